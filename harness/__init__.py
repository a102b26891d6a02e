"""What the test suite and the benchmarks both drive the bridge with: generated caller
speech (``audio``), free ports and the local Redis/PostgreSQL servers (``servers``),
real SIP peers (``peers``: sipp, baresip), a trivial speech engine, and synthetic
call traffic. Never imported by the product (``tests/test_layering.py`` holds that)."""
