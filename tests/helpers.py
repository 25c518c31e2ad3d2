"""Helpers the test modules share (fixtures live in conftest.py files)."""

import shutil

#: Headless Chromium and its driver (Debian's ``chromium`` and ``chromium-driver``), or None.
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
NO_CHROMIUM = ("headless Chromium not found (chromium and chromedriver on PATH); install them "
               "with: apt-get install chromium chromium-driver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1100,900")

#: One epoch on the CPU, quiet, without a validation split: the tests' tiny estimator settings.
TINY = dict(max_epochs=1, train_split=None, verbose=0, device="cpu")


def one_line(exc_info):
    """The message of a raised error, checked to be one line."""
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def tiny_net(**params):
    """A one-epoch LeNet-5 on the CPU, quiet, without a validation split; ``params`` on top."""
    from kagdigits import LeNet5Classifier

    return LeNet5Classifier(**{**TINY, "batch_size": 32, **params})


def small_ensemble(**params):
    """Two one-epoch LeNet-5 members (batch 32) on the CPU, quiet, without the recipe;
    ``params`` on top."""
    from kagdigits import EnsembleClassifier

    settings = dict(member="lenet5", n_members=2, max_epochs=1, member_params={"batch_size": 32},
                    recipe=False, device="cpu", verbose=0)
    return EnsembleClassifier(**{**settings, **params})


def run_cli(capsys, *argv):
    """``kagdigits argv`` in this process: its exit code, stdout and stderr."""
    from kagdigits.cli.main import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def start_chromium(profile):
    """A selenium driver of headless Chromium with its profile in the folder ``profile``
    (the browser's console log kept); quit it when done."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    return driver
