"""Marginal import cost of a module after what a worker has already imported, from python -X importtime.
python marginal.py "PRELUDE" MODULE [runs]"""
import re
import statistics
import subprocess
import sys

prelude, module = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 11
values = []
for _ in range(runs):
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"{prelude}\nimport {module}"],
                         capture_output=True, text=True, check=True).stderr
    line = [row for row in err.splitlines() if re.search(rf"\|\s*{re.escape(module)}$", row)][-1]
    values.append(int(line.split("|")[1]) / 1000)
print(f"{module} after [{prelude}]: median cumulative {statistics.median(values):.1f} ms over {runs} runs "
      f"(min {min(values):.1f}, max {max(values):.1f})")
