"""The chart README's values table against values.yaml, for scripts/check-chart.sh.

A key documented in values.yaml has a `# -- description` comment on the line above it; the
README's table under "## Values" has one row per documented key, with its default and that
description. Every value in values.yaml must be documented, itself or through a documented parent
whose default the table gives as "see values.yaml".

    python3 scripts/lib/chart_values_table.py deploy/stockd          # check
    python3 scripts/lib/chart_values_table.py deploy/stockd --write  # rewrite the table
"""
import pathlib
import re
import sys

import yaml

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?: |$)")
ROW = re.compile(r"^\|\s*`(?P<key>[^`]+)`\s*\|\s*(?P<default>[^|]*?)\s*\|\s*(?P<text>[^|]*?)\s*\|$")
HEADER = "| Key | Default | Description |\n|---|---|---|\n"
SEE_VALUES = "see values.yaml"


def documented_keys(values_text):
    """(dotted path, description) of the keys that a `# --` comment documents, in file order."""
    documented, parents, pending = [], [], None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[len("# --"):].strip()
            continue
        match = KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = ".".join([p for _, p in parents] + [match["key"]])
        if pending is not None:
            documented.append((path, pending))
        pending = None
        parents.append((indent, match["key"]))
    return documented


def lookup(values, path):
    node = values
    for key in path.split("."):
        node = node[key]
    return node


def shown(value):
    """A default as the table shows it."""
    if isinstance(value, (dict, list)) and value:
        return SEE_VALUES
    if value is None:
        return "`null`"
    if value == "":
        return "`''`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (dict, list)):
        return "`{}`" if isinstance(value, dict) else "`[]`"
    return f"`{value}`"


def leaves(values, prefix=""):
    """Dotted paths of the values that are not non-empty mappings."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaves(value, path + ".")
        else:
            yield path


def table_rows(readme_text):
    """(key, default, description) of each row of the table under "## Values"."""
    section = readme_text.split("\n## Values", 1)
    if len(section) < 2:
        return None
    body = section[1].split("\n## ", 1)[0]
    return [(m["key"], m["default"], m["text"]) for m in map(ROW.match, body.splitlines()) if m]


def table(values_text):
    """The table as values.yaml documents it."""
    values = yaml.safe_load(values_text)
    rows = (f"| `{key}` | {shown(lookup(values, key))} | {text} |\n" for key, text in documented_keys(values_text))
    return HEADER + "".join(rows)


def rewrite(readme_text, values_text):
    """The README with its values table replaced by the one values.yaml documents."""
    head, rest = readme_text.split("\n## Values", 1)
    start = rest.index(HEADER)
    end = start + len(HEADER)
    while end < len(rest) and rest.startswith("|", end):
        end = rest.index("\n", end) + 1
    return head + "\n## Values" + rest[:start] + table(values_text) + rest[end:]


def problems(values_text, readme_text):
    """What differs between values.yaml and the README's table; empty when they agree."""
    values = yaml.safe_load(values_text)
    texts = dict(documented_keys(values_text))
    documented = list(texts)
    rows = table_rows(readme_text)
    if rows is None:
        return ["README.md has no '## Values' section"]
    found = []
    listed = {}
    for key, default, text in rows:
        if key in listed:
            found.append(f"README row `{key}` appears twice")
        listed[key] = (default, text)
    for key in documented:
        if key not in listed:
            found.append(f"values.yaml documents `{key}` but the README table has no row for it")
            continue
        default, text = listed[key]
        if default != shown(lookup(values, key)):
            found.append(f"`{key}`: the README's default is {default}, values.yaml's {shown(lookup(values, key))}")
        if text != texts[key]:
            found.append(f"`{key}`: the README's description differs from its `# --` comment in values.yaml")
    for key in listed:
        if key not in documented:
            found.append(f"the README table lists `{key}`, which values.yaml does not document")
    for leaf in leaves(values):
        parts = leaf.split(".")
        if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)):
            found.append(f"values.yaml has `{leaf}` without a `# --` comment on it or a parent")
    return found


def check(chart):
    chart = pathlib.Path(chart)
    return problems((chart / "values.yaml").read_text(), (chart / "README.md").read_text())


if __name__ == "__main__":
    chart = pathlib.Path(next((a for a in sys.argv[1:] if a != "--write"), "deploy/stockd"))
    if "--write" in sys.argv:
        readme = chart / "README.md"
        readme.write_text(rewrite(readme.read_text(), (chart / "values.yaml").read_text()))
    found = check(chart)
    print("\n".join(found) or "the README's values table matches values.yaml")
    sys.exit(1 if found else 0)
