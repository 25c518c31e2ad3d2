"""The ``slow`` marker for the doc examples that train networks (run by ``make test`` too)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds (still run by make test)")
