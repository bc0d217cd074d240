-- wrk script for bench/serving.py: POST the JSON body in the file named by $BENCH_BODY_FILE.
local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()
