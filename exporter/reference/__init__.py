"""The reference profile: what the production windows are compared with.

``profile`` holds the types, ``building`` builds a profile from a data frame, ``storage`` stores it
without pickle under a fingerprint, and ``keeper`` keeps one model's profile current (fitting it once
per fingerprint, reading the cached one otherwise).
"""
