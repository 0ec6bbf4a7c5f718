from adapters.limits import RateLimiter, rate_limit_notice


def test_bucket_allows_a_burst_then_asks_to_wait_then_refills():
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert limiter.acquire("u") == 0 and limiter.acquire("u") == 0
    wait = limiter.acquire("u")
    assert wait == 10.0  # one token every 10 s
    assert limiter.acquire("other") == 0  # per key
    now[0] += 10
    assert limiter.acquire("u") == 0


def test_keys_are_bounded_and_the_notice_is_polite():
    limiter = RateLimiter(per_minute=60, max_keys=3)
    for key in range(10):
        limiter.acquire(key)
    assert len(limiter._buckets) == 3
    assert "wait about 4 s" in rate_limit_notice(3.2)
