#!/usr/bin/env python3
"""Rewrites the text screens in docs/app.md with what the commands they name print.

Each screen in docs/app.md follows a line naming `nabla render --size 100x28 --no-color
--keys ...`; this runs that command with the binary given (default: the release build)
and puts its output in the code block after the line. Tests/nablaTests/ReadmeTeachingTests
and RenderCommandTests check the same screens (times masked).

    python3 Scripts/update-readme-screens.py [.build/release/nabla]
"""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build", "release", "nabla")
path = os.path.join(root, "docs", "app.md")
text = open(path, encoding="utf-8").read()
marker = re.compile(r"`nabla render --size 100x28 --no-color --keys ('[^']*'|\S+)`")
out, at, count = [], 0, 0
for m in marker.finditer(text):
    keys = m.group(1)
    keys = keys[1:-1] if keys.startswith("'") else keys
    start = text.index("```\n", m.end()) + 4
    end = text.index("```\n", start)
    if start < at:
        continue
    screen = subprocess.run([binary, "render", "--size", "100x28", "--no-color", "--keys", keys],
                            env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"),
                            check=True, capture_output=True, text=True).stdout
    out.append(text[at:start] + screen)
    at, count = end, count + 1
out.append(text[at:])
new = "".join(out)
if new != text:
    tmp = path + ".tmp"
    open(tmp, "w", encoding="utf-8").write(new)
    os.replace(tmp, path)
print(f"{count} screens checked, docs/app.md {'rewritten' if new != text else 'unchanged'}")
