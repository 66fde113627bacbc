"""nginx on the LB host: stage, swap and restore the upstream file, test, reload."""

from __future__ import annotations

import shlex

from ghosttasks.commands import qpath

NEW_SUFFIX = ".ghosttasks-new"
PREV_SUFFIX = ".ghosttasks-prev"


def _nginx(binary: str, conf: str | None, *args: str) -> str:
    argv = [*shlex.split(binary), *(["-c", conf] if conf else []), *args]
    return shlex.join(argv)


def test(binary: str, conf: str | None) -> str:
    return _nginx(binary, conf, "-t", "-q")


def reload(binary: str, conf: str | None) -> str:
    return _nginx(binary, conf, "-s", "reload")


def staged_path(upstream_path: str) -> str:
    return upstream_path + NEW_SUFFIX


def swap_in(upstream_path: str) -> str:
    """Keep the live file as .prev (if any) and move the staged file into place."""
    live, new, prev = qpath(upstream_path), qpath(upstream_path + NEW_SUFFIX), qpath(upstream_path + PREV_SUFFIX)
    return f"{{ if [ -f {live} ]; then cp -p {live} {prev}; else rm -f {prev}; fi; }} && mv -f {new} {live}"


def restore_previous(upstream_path: str) -> str:
    live, prev = qpath(upstream_path), qpath(upstream_path + PREV_SUFFIX)
    return f"if [ -f {prev} ]; then mv -f {prev} {live}; else rm -f {live}; fi"


def read_header(upstream_path: str) -> str:
    return f"head -n 5 {qpath(upstream_path)}"
