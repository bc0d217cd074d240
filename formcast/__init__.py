"""formcast: from a CSV to a trained scikit-learn model served as a web app.

Modules, one concern each:

- ``schema``: infer features and task from a DataFrame; build the model's input frame
- ``validation``: check records (JSON or form) against the schema
- ``training``: read the CSV, build and fit the Pipeline, measure it on held-out rows
- ``bundle``: write and read ``model/`` atomically, with checksum and version checks
- ``predictor``: turn valid records into JSON-ready predictions
- ``cli``: the ``train.py`` command line
- ``web``: the Flask application factory, API and pages
"""
