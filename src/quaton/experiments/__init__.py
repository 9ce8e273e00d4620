"""Many runs at once: grids of configs (``sweep``), searches on a validation split (``tune``), a
Ray cluster for either (``cluster``) and the tables they write (``table``). Above ``train/``:
each run is one ``quaton.train.loop.train``."""
