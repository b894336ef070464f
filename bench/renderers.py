"""Markdown renderers on hostile and on normal input (issue 9; the choice for issue 13).

    .venv/bin/python bench/renderers.py [--repeat 20] [--cap 10]

Renders each input with Python-Markdown (the old renderer, the baseline), markdown-it-py
(with the GFM plugins) and cmarkgfm (GitHub's cmark-gfm), each case in a child process
that is killed after `--cap` seconds, at Python's default recursion limit (as in the
web app). Prints the median time per render in ms and the ratio to the baseline; a
killed case shows as "> cap", a RecursionError (a 500 in the app) as such.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable

NORMAL_POST = (
    "# A normal post\n\nSome *emphasis*, **strong**, `code`, ~~struck~~ and a "
    '[link](https://example.org "title"), and a bare https://example.com/page.\n\n'
    "- [x] done\n- [ ] to do\n  - nested item\n\n"
    "| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 | 4 |\n\n"
    "```python\ndef f(x):\n    return x * 2\n```\n\n"
    "> A quote with *style*.\n\n1. one\n2. two\n\n![alt](/media/abcdefgh12/original.jpg)\n\n"
) * 10

# Hostile inputs within the editor's 200,000-character body limit.
INPUTS = {
    "normal post (7 KB)": NORMAL_POST,
    "list nested 2,000 deep ('- ' x 2,000)": "- " * 2000 + "x",
    "list nested by indentation (200 KB)": "".join("  " * i + "- x\n" for i in range(440)),
    "quote nested 2,000 deep": "> " * 2000 + "x",
    "60,000 '[' then 60,000 ']'": "[" * 60_000 + "]" * 60_000,
    "100,000 '*a'": "*a" * 100_000,
    "50,000 '[a]('": "[a](" * 50_000,
    "100,000 '_*'": "_*" * 100_000,
}


def renderers() -> dict[str, Callable[[str], str]]:
    import cmarkgfm
    import markdown
    from cmarkgfm.cmark import Options
    from markdown_it import MarkdownIt
    from mdit_py_plugins.tasklists import tasklists_plugin

    mdit = (
        MarkdownIt("commonmark", {"html": True, "linkify": True})
        .enable(["table", "strikethrough", "linkify"])
        .use(tasklists_plugin)
    )
    return {
        "Python-Markdown 3.11 (old)": lambda text: markdown.markdown(
            text, extensions=["fenced_code", "tables", "sane_lists"]
        ),
        "markdown-it-py 4.3 + plugins": mdit.render,
        "cmarkgfm 2025.10 (cmark-gfm)": lambda text: cmarkgfm.github_flavored_markdown_to_html(
            text, options=Options.CMARK_OPT_UNSAFE
        ),
    }


def _time_case(renderer: str, text: str, repeat: int, out) -> None:
    render = renderers()[renderer]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            render(text)
        except RecursionError:
            out.send("RecursionError")
            return
        times.append(time.perf_counter() - start)
    out.send(statistics.median(times) * 1000)


def measure(renderer: str, text: str, repeat: int, cap: float) -> float | str:
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(target=_time_case, args=(renderer, text, repeat, send))
    child.start()
    child.join(cap)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {cap:g} s"
    return receive.recv() if receive.poll() else "crashed"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cap", type=float, default=10.0)
    args = parser.parse_args()
    names = list(renderers())
    print("| input | " + " | ".join(f"{n} ms" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, text in INPUTS.items():
        cells, base = [], None
        for name in names:
            result = measure(name, text, args.repeat, args.cap)
            if isinstance(result, float):
                base = result if name == names[0] else base
                ratio = f" ({result / base:.2f}x)" if base and name != names[0] else ""
                cells.append(f"{result:.2f}{ratio}")
            else:
                cells.append(result)
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
