"""DeepCTR's `deepctr.utils`: `check_version`.

Example:
    >>> thread = check_version("0.1.0", url="http://127.0.0.1:9/unreachable", timeout=0.5)
    >>> thread.join()  # no answer: nothing is said above debug level, nothing is raised
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from packaging.version import InvalidVersion, Version

PACKAGE_INDEX_URL = "https://pypi.org/pypi/ctrkit/json"

logger = logging.getLogger("ctrkit")


def latest_release(releases) -> Version | None:
    """The highest final release among version strings (pre-, post- and
    development releases and unparsable strings are left out)."""
    versions = []
    for release in releases:
        try:
            version = Version(str(release))
        except InvalidVersion:
            continue
        if not (version.is_prerelease or version.is_postrelease or version.is_devrelease):
            versions.append(version)
    return max(versions, default=None)


def check_version(version, *, url: str = PACKAGE_INDEX_URL, timeout: float = 5.0) -> threading.Thread:
    """Warn when the package index has a ctrkit release newer than `version`.

    As DeepCTR's `check_version`, the look-up runs in a background thread and
    never raises: without network, or when the index does not answer, it
    logs at debug level and stops. `version` may be a string or a number
    (`check_version(20191231)`); `url` is the index's JSON description of the
    package (`{"releases": {"1.0.0": ..., ...}}`). Returns the started
    daemon thread.
    """

    def check() -> None:
        try:
            current = Version(str(version))
            with urllib.request.urlopen(url, timeout=timeout) as response:
                releases = json.loads(response.read().decode("utf-8")).get("releases", {})
        except (OSError, ValueError, InvalidVersion) as exc:
            logger.debug("ctrkit version check against %s did not complete: %s", url, exc)
            return
        latest = latest_release(releases)
        if latest is not None and latest > current:
            logger.warning(
                "ctrkit version %s is available; this is version %s. Upgrade with `pip install -U ctrkit`.",
                latest,
                current,
            )

    thread = threading.Thread(target=check, name="ctrkit-check-version", daemon=True)
    thread.start()
    return thread
