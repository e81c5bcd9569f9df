from tests.runtime.conftest import bundle, media  # noqa: F401  (the real exported bundle and encoded media)
