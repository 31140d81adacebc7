-- wrk script of scripts/bench-intake.sh: POSTs one signed webhook delivery, each request with
-- a fresh X-GitHub-Delivery id. The body never changes, so its X-Hub-Signature-256 (HMAC-SHA256
-- over the body; wrk's Lua has no HMAC) is computed once by the shell script and passed in
-- BENCH_SIGNATURE; the delivery id is not signed.
--
-- Environment: BENCH_BODY (file), BENCH_SIGNATURE, BENCH_EVENT (default pull_request),
-- BENCH_RUN (a prefix making ids unique across runs). With BENCH_VARIANTS=N (N > 1) the
-- requests cycle through N bodies instead, BENCH_BODY.1 … BENCH_BODY.N, each signed in
-- BENCH_BODY.N.sig (one pull request each, as in a burst over many pull requests).

local body_file = assert(os.getenv("BENCH_BODY"), "BENCH_BODY")
local event = os.getenv("BENCH_EVENT") or "pull_request"
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local variants = tonumber(os.getenv("BENCH_VARIANTS") or "1")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local bodies, signatures = {}, {}
if variants > 1 then
  for i = 1, variants do
    bodies[i] = read(body_file .. "." .. i)
    signatures[i] = read(body_file .. "." .. i .. ".sig"):gsub("%s+$", "")
  end
else
  bodies[1] = read(body_file)
  signatures[1] = assert(os.getenv("BENCH_SIGNATURE"), "BENCH_SIGNATURE")
  variants = 1
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0
function request()
  counter = counter + 1
  local v = (counter + (thread_id or 0)) % variants + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Delivery"] = string.format("%s-%d-%d", run, thread_id or 0, counter),
    ["X-Hub-Signature-256"] = signatures[v],
  }
  return wrk.format("POST", "/api/github/webhooks", headers, bodies[v])
end

function done(summary, latency, requests)
  local p99 = latency:percentile(99) / 1000.0
  local p50 = latency:percentile(50) / 1000.0
  local rate = summary.requests / (summary.duration / 1e6)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("BENCH_RESULT rate=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d non2xx=%d\n",
    rate, p50, p99, summary.requests, errors, summary.errors.status))
end
