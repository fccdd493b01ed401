#!/bin/sh
# Re-make docs/report-xlsx.png: the demo's XLSX report as LibreOffice shows it (its native charts).
# Needs Debian's libreoffice-calc-nogui, fonts-noto-cjk, poppler-utils and imagemagick.
#   sh docs/make-xlsx-screenshot.sh            (from the repository, with .venv installed)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dongflow="$here/.venv/bin/dongflow"
"$dongflow" --db "$work/demo.db" demo --as-of 2016-05-20 >/dev/null
"$dongflow" --db "$work/demo.db" report --as-of 2016-05-20 -o "$work/report.xlsx" >/dev/null
HOME="$work" soffice --headless --convert-to pdf --outdir "$work" "$work/report.xlsx" >/dev/null 2>&1
# One printed page per sheet (landscape, one page wide): 1 results, 3 budget, 4 participation, 5 districts.
for page in 1 3 4 5; do
  pdftoppm -r 110 -png -f $page -l $page -singlefile "$work/report.pdf" "$work/page-$page"
  convert "$work/page-$page.png" -trim +repage -bordercolor white -border 16 "$work/trim-$page.png"
done
convert "$work/trim-1.png" "$work/trim-3.png" "$work/trim-4.png" "$work/trim-5.png" -background white \
  -gravity west -append +repage -bordercolor "#cccccc" -border 1 "$here/docs/report-xlsx.png"
echo "wrote $here/docs/report-xlsx.png"
