#!/usr/bin/env bash
# The report renders: headless Chromium opens index.html and the page itself
# reports how many of its images decoded (data-images="ok/total"). A control
# page with one broken image must read back as not all loaded, so the check
# can fail.
set -u
dir=$(dirname "$0")
py=/usr/bin/python3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export HOME=$tmp

images() {  # images FILE -> "ok/total" as the page reports it
  chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$tmp/chrome" \
    --virtual-time-budget=10000 --dump-dom "file://$1" 2>/dev/null | grep -o 'data-images="[^"]*"' | cut -d'"' -f2
}

"$py" "$dir/make_plots.py" "$dir/testdata/run_small.json" --alloc "$dir/testdata/alloc_small.json" --cross "$dir/testdata/cross_small.json" \
  --out "$tmp/figs" >/dev/null || fail "make_plots"
"$py" "$dir/report.py" "$dir/testdata/run_small.json" --figures "$tmp/figs" --out "$tmp/report" >/dev/null || fail "report"
got=$(images "$tmp/report/index.html")
want=$(grep -c '"file"' "$tmp/figs/figures.json")
echo "report: $got images loaded (want $want/$want)"
[[ $got == "$want/$want" && $want -ge 8 ]] || fail "report images: got '$got', want $want/$want"

# Control: the same page with one image's data damaged.
sed '0,/base64,iVBOR/s//base64,AAAAA/' "$tmp/report/index.html" >"$tmp/broken.html"
got=$(images "$tmp/broken.html")
echo "control: $got"
[[ $got == "$((want - 1))/$want" ]] || fail "broken image not detected: got '$got'"

echo "render_test: $fails failure(s)"
exit $((fails != 0))
