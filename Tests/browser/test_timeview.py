#!/usr/bin/env python3
"""Real-browser tests of ember's time view (`.html`), in headless Chromium.

usage: test_timeview.py EMBER_BINARY [WORK_DIR]

Records the time-view samples (samples/phases: one function for the first half of its
run, another for the second, its samples counted in the kernel; samples/staggered: three
threads started 0.8 s apart, unwound with DWARF; samples/blocking with --off-cpu and --wall)
with ember, opens the pages and checks that a `#t=` range inside either half shows only that
half's function, that dragging on the heat map selects the same range, that a Shift-drag
shows the differential graph of the two ranges (the first function gone, the second new,
with ember diff's tooltips), that the three threads' tracks begin when they started, that off-CPU blocks are drawn
as intervals and a range takes its share of each, that
hostile names (perf script input) stay inert, that the page makes no request, that frames
too narrow for a label and slivers keep their tooltips, search colour, zoom and the
comparison's "new" and "gone" looks, that the
flame-graph options the page honours (--reverse, --base, --min-width, --sort, --inverted,
--colors, --bg-colors, --width, --height, --count-name, --subtitle, --notes) change it,
that input without times (folded) says why it has no heat map, that the heat map's cells
are shaded by their samples, that the canvases follow a device pixel ratio of 2, and that
50 selections do not grow the page's memory. The graph of a range and the heat map's cells
are painted on canvases: the checks read what the graph's canvas says it painted, read its
pixels back, and point at the painted boxes.
Recording needs root (BPF); without it those checks are skipped and say why.
Prints `timeview: N passed, M failed, K skipped` last and exits non-zero on any failure.
"""
import os
import random
import re
import subprocess
import sys
import time
import urllib.parse

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import test_flamegraph as flame
from test_flamegraph import Checks, Skip, expect, make_driver

EMBER = flame.EMBER
WORK = flame.WORK
SAMPLES = os.path.join(flame.REPO, "samples", "build")


def record(name, *command, dwarf=False, options=()):
    """Records `command` into WORK/name.html (by default unwinding as ember does, the samples
    counted in the kernel; with `dwarf`, sent whole through the ring buffer). Skips, saying
    why, when this machine cannot record."""
    if os.geteuid() != 0:
        raise Skip("recording needs root (BPF programs and perf events)")
    program = os.path.join(SAMPLES, command[0])
    if not os.path.exists(program):
        subprocess.run(["make", "-s", "-C", os.path.dirname(SAMPLES)], check=True)
    target = os.path.join(WORK, name + ".html")
    unwind = ["--unwind", "dwarf"] if dwarf else []
    result = subprocess.run([EMBER, "record", *unwind, *options, "-F", "997", "-o", target, "--",
                             program, *command[1:]], capture_output=True, text=True)
    expect(result.returncode == 0, f"ember record failed: {result.stderr}")
    return target


# The page answers input (a pointer move, a click, a new fragment) in its event handlers and
# paints on its next animation frame; it writes a zoom into the fragment after that frame. A
# check reads the page only once the page has answered: after the frame that follows the
# input, or when what it waits for has appeared (up to a few seconds on a loaded machine).
NEXT_FRAME = "var done = arguments[0]; requestAnimationFrame(function () { setTimeout(done, 0); });"


def next_frame(driver):
    driver.execute_async_script(NEXT_FRAME)


def wait_until(read, done, timeout=5):
    """`read()`'s value once `done` holds for it (polled), or its last value after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def fragment_of(driver):
    return driver.execute_script("return location.hash")


def set_fragment(driver, fragment):
    """Sets the URL fragment as a user's edit or link does, and returns once the page has
    handled the hashchange and painted."""
    driver.execute_async_script(
        "var done = arguments[1], wanted = new URL(location.href);"
        "wanted.hash = arguments[0];"
        "if (wanted.hash === location.hash) { done(); return; }"
        "window.addEventListener('hashchange', function once() {"
        "  window.removeEventListener('hashchange', once);"
        "  requestAnimationFrame(function () { setTimeout(done, 0); }); });"
        "location.hash = arguments[0];", fragment)


# The graph of a range is painted on a canvas. The page says what it painted
# (`paintedItems()`: per frame or "(N more)" sliver its name, label, row, box in CSS pixels of
# the canvas, fill, kind and looks); the checks read that, and read the canvas's pixels back
# to see that it was painted so, and point at the boxes as a user does.
def painted(driver):
    """The frames and slivers the range's graph shows, as dicts, row by row, left to right."""
    return driver.execute_script("var c = document.getElementById('graph-canvas'); return c ? c.paintedItems() : []")


def painted_frame(driver, name):
    """The painted frame (not sliver) named `name` with its label shown, or None."""
    return next((item for item in painted(driver) if not item["sliver"] and item["label"] == name), None)


def frame_names(driver):
    """The names the graph shows as labels (frames wide enough for one)."""
    return [item["label"] for item in painted(driver) if not item["sliver"] and item["label"]]


def pixel(driver, item, dx=None, dy=None):
    """The canvas's (r, g, b, a) inside `item`, dx, dy CSS pixels from its top left, read back
    from the canvas at the device pixel ratio. By default half way down, 2 px in from the
    left (a whole pixel inside the frame's outline and before its label), or in the middle
    of a frame too narrow for that."""
    x = item["x"] + ((2 if item["width"] >= 3 else item["width"] / 2) if dx is None else dx)
    y = item["y"] + (item["height"] / 2 if dy is None else dy)
    return tuple(driver.execute_script(
        "var c = document.getElementById('graph-canvas'), r = c.width / parseFloat(c.style.width);"
        "return Array.from(c.getContext('2d').getImageData(Math.floor(arguments[0] * r), Math.floor(arguments[1] * r), 1, 1).data)",
        x, y))


def client_point(driver, item):
    """The middle of `item` in the window's coordinates (as mouse events carry them),
    scrolled into the window first where it is outside (a tall page: many threads)."""
    return driver.execute_script(
        "var c = document.getElementById('graph-canvas'), b = c.getBoundingClientRect(), y = b.top + arguments[1];"
        "if (y < 0 || y >= window.innerHeight) { window.scrollBy(0, y - window.innerHeight / 2); b = c.getBoundingClientRect(); }"
        "return [b.left + arguments[0], b.top + arguments[1]]", item["x"] + item["width"] / 2, item["y"] + item["height"] / 2)


def dispatch(driver, kind, item):
    """Sends a mouse event of `kind` at the middle of `item` to what is there; returns the tooltip's text."""
    x, y = client_point(driver, item)
    driver.execute_script(
        "var t = document.elementFromPoint(arguments[1], arguments[2]);"
        "t.dispatchEvent(new MouseEvent(arguments[0], { bubbles: true, clientX: arguments[1], clientY: arguments[2] }))",
        kind, x, y)
    return driver.find_element(By.ID, "tip").get_attribute("textContent")


def pointer_to(actions, x, y):
    """Adds a move of the pointer to (x, y) in the window to `actions`. In the window's
    coordinates, not from an element: the driver measures offsets from the middle of an
    element's part in view, which moves with the scroll."""
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.w3c_actions.key_action.pause()


def move_to(driver, item):
    """Moves the pointer (a real one, through the driver) to the middle of `item`."""
    x, y = client_point(driver, item)
    actions = ActionChains(driver)
    pointer_to(actions, x, y)
    actions.perform()
    next_frame(driver)


MAGENTA = (230, 0, 230, 255)


def graph_has(driver, name):
    """Whether the graph drawn holds a frame named `name`, drawn or not: searched for as a
    user does (the search in the fragment), a match colours its frame or the "(N more)"
    sliver that stands for it, on the canvas. The search is cleared again."""
    fragment = driver.execute_script("return location.hash")
    search = "^" + re.escape(name) + "$"
    set_fragment(driver, (fragment or "#") + "&s=" + urllib.parse.quote(search, safe=""))
    matched = [item for item in painted(driver) if item["highlighted"]]
    term = driver.execute_script("return decodeURIComponent((/[#&]s=([^&]*)/.exec(location.hash) || ['', ''])[1])")
    expect(term == search, f"search not applied: {term!r}")
    for item in matched:
        if item["width"] >= 2:
            expect(pixel(driver, item) == MAGENTA, f"a match of {name} is not painted magenta: {pixel(driver, item)}")
    set_fragment(driver, fragment or "#")
    return len(matched) > 0


def open_page(driver, url):
    driver.get("about:blank")
    driver.get(url)
    next_frame(driver)


def check_range_shows_its_phase(driver, page):
    open_page(driver, page + "#t=0.2-0.8")
    expect("phase_one" in frame_names(driver) and not graph_has(driver, "phase_two"), f"first half: {frame_names(driver)}")
    expect(graph_has(driver, "phase_one"), "the search does not find phase_one")
    open_page(driver, page + "#t=1.2-1.8")
    expect("phase_two" in frame_names(driver) and not graph_has(driver, "phase_one"), f"second half: {frame_names(driver)}")
    open_page(driver, page)
    names = frame_names(driver)
    expect("phase_one" in names and "phase_two" in names, f"whole recording: {names}")


def heat_cell_point(driver, second, slot):
    """The middle of the heat map's cell of `slot` (20 ms slices) of column `second`, in the
    window's coordinates (the heat map scrolled into view)."""
    box = driver.execute_script(
        "var h = document.getElementById('heatmap'); h.scrollIntoView({ block: 'nearest' });"
        "var r = h.getBoundingClientRect();"
        "return [r.left, r.top, +h.getAttribute('data-left'), +h.getAttribute('data-top'),"
        "        +h.getAttribute('data-cell-width'), +h.getAttribute('data-cell-height')];")
    left, top, heat_left, heat_top, cell_w, cell_h = box
    return left + heat_left + second * cell_w + cell_w / 2, top + heat_top + slot * cell_h + cell_h / 2


def drag_heat(driver, start, end, shift=False):
    """Drags on the heat map from cell `start` to cell `end` (second, slot); returns the
    fragment once the selection is in it."""
    before = fragment_of(driver)
    first, last = heat_cell_point(driver, *start), heat_cell_point(driver, *end)
    actions = ActionChains(driver)
    if shift:
        actions.key_down(Keys.SHIFT)
    pointer_to(actions, *first)
    actions.click_and_hold()
    pointer_to(actions, *last)
    actions.release()
    if shift:
        actions.key_up(Keys.SHIFT)
    actions.perform()
    fragment = wait_until(lambda: fragment_of(driver), lambda value: value != before)
    next_frame(driver)
    return fragment


def check_heat_map_drag(driver, page):
    open_page(driver, page)
    fragment = drag_heat(driver, (0, 10), (0, 39))  # 0.20 s up to the end of the slice at 0.78 s
    expect(fragment == "#t=0.2-0.8", f"fragment after the drag: {fragment!r}")
    expect("phase_one" in frame_names(driver) and not graph_has(driver, "phase_two"), f"dragged range: {frame_names(driver)}")
    text = driver.find_element(By.ID, "range-text").text
    expect("0.200" in text and "0.800" in text, f"range line: {text!r}")


def tooltip_of(driver, name):
    """The painted frame labelled `name`, and its tooltip once the pointer is on it."""
    target = painted_frame(driver, name)
    expect(target is not None, f"no drawn frame {name}")
    move_to(driver, target)
    tip = driver.find_element(By.ID, "tip")
    text = wait_until(lambda: tip.get_attribute("textContent"), lambda value: value.startswith(name))
    return target, text


def check_shift_selection_diff(driver, page):
    open_page(driver, page + "#t=0.2-0.8")
    fragment = drag_heat(driver, (1, 10), (1, 39), shift=True)
    expect(fragment == "#t=0.2-0.8&t2=1.2-1.8", f"fragment after the Shift-drag: {fragment!r}")
    expect(driver.find_element(By.ID, "ember").get_attribute("data-differential") == "1", "not a differential graph")
    one, tip = tooltip_of(driver, "phase_one")
    expect(one["kind"] == "gone", f"phase_one's kind: {one['kind']!r}")
    expect("change: gone" in tip, f"phase_one's tooltip: {tip!r}")
    # Gone: filled at half opacity (the canvas is transparent under it), dashed grey outline.
    expect(pixel(driver, one)[3] in (127, 128), f"phase_one (gone) is not faded: {pixel(driver, one)}")
    two, tip = tooltip_of(driver, "phase_two")
    expect(two["kind"] == "new", f"phase_two's kind: {two['kind']!r}")
    expect("change: new" in tip and "before: 0 samples" in tip, f"phase_two's tooltip: {tip!r}")
    expect(two["fill"].startswith("rgb(255,"), f"phase_two (grown) is not red: {two['fill']}")
    red = pixel(driver, two)
    expect(red[0] == 255 and red[1] < 255 and red[3] == 255, f"phase_two (grown) is not painted red: {red}")
    # New: outlined in dark red, on the first pixel column inside the frame.
    edge = pixel(driver, two, dx=round(two["x"]) - two["x"] + 0.5)
    expect(edge == (153, 0, 0, 255), f"phase_two (new) is not outlined: {edge}")
    # The link reproduces the comparison.
    open_page(driver, page + fragment)
    expect(driver.find_element(By.ID, "ember").get_attribute("data-differential") == "1", "link: not differential")


def check_zoom_and_search_in_fragment(driver, page):
    open_page(driver, page + "#t=0.2-0.8&s=phase")
    matched = driver.find_element(By.ID, "matched").get_attribute("textContent")
    expect(matched.startswith("Matched: "), f"search from the fragment: {matched!r}")
    target, _ = tooltip_of(driver, "main")
    ActionChains(driver).click().perform()
    fragment = wait_until(lambda: fragment_of(driver), lambda value: "&x=" in value)
    expect(fragment.startswith("#t=0.2-0.8&x=") and "&s=phase" in fragment, f"fragment after a zoom: {fragment!r}")
    open_page(driver, page + fragment)
    expect("h" not in (driver.find_element(By.ID, "unzoom").get_attribute("class") or "").split(), "zoom not restored")


def check_thread_tracks(driver, page):
    open_page(driver, page)
    starts = driver.execute_script(
        "var t = document.getElementById('tracks'), left = +t.getAttribute('data-left'),"
        "    w = +t.getAttribute('data-plot-width'), d = +t.getAttribute('data-duration'), out = {};"
        "document.querySelectorAll('#tracks .track').forEach(function (g) {"
        "  var name = g.querySelector('text').textContent, first = g.querySelector('.on');"
        "  out[name] = first ? (+first.getAttribute('x') - left) / w * d : null; });"
        "return out;")
    workers = {name.split(" ")[0]: value for name, value in starts.items() if name.startswith("stagger-")}
    expect(sorted(workers) == ["stagger-0", "stagger-1", "stagger-2"], f"tracks: {starts}")
    t0, t1, t2 = workers["stagger-0"], workers["stagger-1"], workers["stagger-2"]
    expect(t0 < 0.4, f"stagger-0 starts at {t0:.3f} s")
    expect(0.55 < t1 - t0 < 1.1 and 0.55 < t2 - t1 < 1.1, f"starts {t0:.3f}, {t1:.3f}, {t2:.3f} s (0.8 s apart)")
    groups = driver.execute_script("return document.querySelectorAll('#tracks .proc').length")
    expect(groups == 1, f"{groups} process groups")


def lanes(driver):
    """Per thread name: its lane's on-CPU marks and off-CPU blocks as (start, end) seconds."""
    return driver.execute_script(
        "var t = document.getElementById('tracks'), left = +t.getAttribute('data-left'),"
        "    w = +t.getAttribute('data-plot-width'), d = +t.getAttribute('data-duration'), out = {};"
        "function span(r) { var x = +r.getAttribute('x'); return [(x - left) / w * d, (x + +r.getAttribute('width') - left) / w * d]; }"
        "document.querySelectorAll('#tracks .track').forEach(function (g) {"
        "  out[g.querySelector('text').textContent.split(' ')[0]] = {"
        "    on: Array.from(g.querySelectorAll('.on')).map(span), off: Array.from(g.querySelectorAll('.off')).map(span) }; });"
        "return out;")


def check_off_cpu_intervals(driver, page):
    open_page(driver, page + "#t=0.5-1.5")
    threads = lanes(driver)
    idler, main = threads.get("idler"), threads.get("blocking")
    expect(idler and main, f"lanes: {sorted(threads)}")
    longest = max((end - start for start, end in idler["off"]), default=0)
    expect(longest > 1.5, f"the idler blocks the whole run: its longest block is {longest:.3f} s")
    waits = [end - start for start, end in main["off"]]
    # 50 ms on the pipe and 30 ms asleep per 100 ms cycle: blocks, drawn as intervals.
    expect(len(waits) >= 10 and 10 <= len([w for w in waits if 0.02 < w < 0.07]), f"main thread's blocks: {waits}")
    for name in ("nap", "idler", "[off-cpu]_[o]"):
        expect(graph_has(driver, name), f"{name} not in the range's graph: {frame_names(driver)}")
    # Three threads: a range's off-CPU time is at most its length per thread.
    total = driver.execute_script("return +document.getElementById('ember').getAttribute('data-total')")
    expect(1.2e6 < total <= 3.0e6 * 1.01, f"off-CPU microseconds in 1 s of 3 threads: {total}")


def check_wall_clock_ranges(driver, page):
    open_page(driver, page + "#t=0.5-1.5")
    for name in ("compute", "nap", "[off-cpu]_[o]"):
        expect(graph_has(driver, name), f"{name} not in the wall-clock range's graph: {frame_names(driver)}")
    threads = lanes(driver)
    main = threads.get("blocking")
    expect(main and main["on"] and main["off"], f"main thread lane: {main} (lanes: {sorted(threads)})")


HOSTILE_NAMES = [
    "<script>window.__pwned=1</script>",
    "</script><script>window.__pwned=2</script>",
    "<!--<script>window.__pwned=3</script>",
    "<img/src=x/onerror=window.__pwned=4>",
    "\\u003c/script\\u003e",
]


def perf_script(samples):
    """perf script text: one process, two threads, a sample every 4 ms for 2 s."""
    lines = []
    for index in range(samples):
        tid = 700 if index % 2 == 0 else 701
        comm = "<b onmouseover=window.__pwned=5>" if tid == 700 else "worker"
        lines.append(f"{comm} 700/{tid} [000] {100 + index * 0.004:.6f}: 4000000 cpu-clock:")
        leaf = HOSTILE_NAMES[index % len(HOSTILE_NAMES)] if index < samples // 2 else "plain_leaf"
        lines.append(f"\t    4005d0 {leaf}+0x10 (/tmp/hostile)")
        lines.append("\t    4004b0 main+0x20 (/tmp/hostile)")
        lines.append("")
    return "\n".join(lines) + "\n"


def check_hostile_names_inert(driver, work):
    target = os.path.join(work, "hostile.html")
    # From standard input, as `perf script | ember render - -o view.html` reads it.
    subprocess.run([EMBER, "render", "-", "-o", target, "--title=</title><script>window.__pwned=6</script>"],
                   input=perf_script(500).encode(), check=True)
    page = open(target, encoding="utf-8").read()
    expect(page.count("<script") == 2 and page.count("</script") == 2, "a name opened or closed a script element")
    for fragment in ("", "#t=0.1-0.9", "#t=0.1-0.9&t2=1.1-1.9&s=%3Cscript"):
        open_page(driver, "file://" + target + fragment)
        tips = [dispatch(driver, "mousemove", item) for item in painted(driver)]
        expect(any(name in tip for tip in tips for name in HOSTILE_NAMES), f"no tooltip shows a hostile name as text ({fragment})")
        pwned = driver.execute_script("return window.__pwned")
        expect(pwned is None, f"hostile input ran script ({fragment}): {pwned}")
        injected = driver.execute_script("return document.querySelectorAll('img, b, iframe, object, embed').length")
        expect(injected == 0, f"{injected} injected elements")
    open_page(driver, "file://" + target + "#t=0.1-0.9")
    # Each name is painted as text (a label: the part that fits) and is its tooltip's first line.
    items = painted(driver)
    for name in HOSTILE_NAMES:
        item = next((item for item in items if item["name"] == name and item["label"]), None)
        expect(item is not None and name.startswith(item["label"]), f"{name!r} not shown as text: {items}")
        tip = dispatch(driver, "mousemove", item)
        expect(tip.startswith(name), f"{name!r}'s tooltip: {tip!r}")
    tracks = driver.execute_script("return Array.from(document.querySelectorAll('#tracks text')).map(function (t) {"
                                   "  return t.textContent; })")
    expect(any("<b onmouseover=window.__pwned=5>" in name for name in tracks), f"thread names: {tracks}")
    title = driver.execute_script("return document.title + '|' + document.getElementById('page-title').textContent")
    expect(title.count("</title><script>window.__pwned=6</script>") == 2, f"title: {title!r}")


def check_no_requests(driver, page):
    open_page(driver, page + "#t=0.2-0.8")
    for item in painted(driver):
        dispatch(driver, "mousemove", item)
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    expect(resources == [], f"requests: {resources}")
    policy = driver.execute_script(
        "var m = document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]'); return m && m.content;")
    expect(policy and "default-src 'none'" in policy, f"policy: {policy!r}")
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    expect(errors == [], f"console errors: {errors}")


def busy_perf_script(seconds=20, paths=400):
    """perf script text: one thread, a sample a millisecond for `seconds`, its stacks drawn
    from `paths` call paths 3 to 12 frames deep that change every 2 s (so that ranges have
    graphs of a few hundred frames, and different ones)."""
    rng = random.Random(5)
    pool = [f"fn_{k}" for k in range(150)]
    shapes = [["main"] + [rng.choice(pool) for _ in range(rng.randrange(2, 11))] for _ in range(paths)]
    lines = []
    for index in range(seconds * 1000):
        phase = index // 2000
        path = shapes[(rng.randrange(paths // 4) + phase * 37) % paths]
        frames = "".join(f"\t    {0x400000 + 16 * d:x} {name}+0x10 (/tmp/busy)\n" for d, name in enumerate(reversed(path)))
        lines.append(f"busy 800/800 [000] {100 + index * 0.001:.6f}: 1000000 cpu-clock:\n{frames}")
    return "\n".join(lines)


def check_heat_map_cells(driver, work):
    """The heat map's cells (painted on a canvas) are shaded by their samples: white to red,
    nothing where there are none."""
    lines = []
    # Second 0: a sample a millisecond for its first half, none in its second; second 1: one every 2 ms.
    times = [k / 1000 for k in range(500)] + [1 + k / 500 for k in range(500)]
    for t in times:
        lines.append(f"app 900/900 [000] {100 + t:.6f}: 1000000 cpu-clock:\n\t    4005d0 work+0x10 (/tmp/heat)\n")
    open_page(driver, render_page(work, "heat", "\n".join(lines)))

    def cell(second, slot):
        return tuple(driver.execute_script(
            "var h = document.getElementById('heatmap'), c = document.getElementById('heat-cells'), r = c.width / parseFloat(c.style.width);"
            "var x = (arguments[0] + 0.5) * +h.getAttribute('data-cell-width'), y = (arguments[1] + 0.5) * +h.getAttribute('data-cell-height');"
            "return Array.from(c.getContext('2d').getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data)", second, slot))
    expect(cell(0, 3) == (255, 0, 0, 255), f"a full cell: {cell(0, 3)}")
    expect(cell(1, 3) == (255, 118, 100, 255), f"a cell of half as many samples: {cell(1, 3)}")
    expect(cell(0, 40)[3] == 0, f"an empty cell is painted: {cell(0, 40)}")
    status = driver.execute_script(
        "var h = document.getElementById('heatmap'), b = h.getBoundingClientRect();"
        "h.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: b.left + +h.getAttribute('data-left') + 1.5 * +h.getAttribute('data-cell-width'),"
        "  clientY: b.top + +h.getAttribute('data-top') + 3.5 * +h.getAttribute('data-cell-height') }));"
        "return document.getElementById('heat-status').textContent")
    expect(status.startswith("1 s + 60 ms: 10,000,000"), f"the status line of a cell: {status!r}")


def check_crisp_at_device_pixel_ratio(driver, work):
    """On a screen of two device pixels per CSS pixel the canvas has twice the pixels each way
    (crisp text), painted again when the ratio changes (the browser's zoom, another screen)."""
    url = render_page(work, "busy", busy_perf_script(4))
    open_page(driver, url + "#t=0-2")

    def size():
        return driver.execute_script("var c = document.getElementById('graph-canvas'), b = c.getBoundingClientRect();"
                                     "return [c.width, c.height, b.width, b.height, window.devicePixelRatio]")
    try:
        one = size()
        expect(one[0] == one[2] and one[1] == one[3] and one[4] == 1, f"at ratio 1: {one}")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1300, "height": 900, "deviceScaleFactor": 2, "mobile": False})
        two = wait_until(size, lambda value: value[4] == 2 and value[0] == 2 * value[2])
        next_frame(driver)
        two = size()
        expect(two[4] == 2 and two[0] == 2 * two[2] and two[1] == 2 * two[3], f"at ratio 2 (no reload): {two}")
        # Painted at that size: the root's box, and a label's glyphs in the device pixels.
        root = painted(driver)[0]
        expect(pixel(driver, root, dx=root["width"] - 4)[3] == 255, "the root is not painted at ratio 2")
        dark = driver.execute_script(
            "var c = document.getElementById('graph-canvas'), item = c.paintedItems()[0];"
            "var d = c.getContext('2d').getImageData(2 * item.x, 2 * item.y, 2 * 40, 2 * item.height).data, n = 0;"
            "for (var i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 200) n++;"
            "return n")
        expect(dark > 40, f"the root's label has {dark} dark device pixels at ratio 2")
        open_page(driver, url + "#t=0-2&s=fn_1")
        lit = next((item for item in painted(driver) if item["highlighted"] and item["width"] >= 3), None)
        expect(lit is not None and pixel(driver, lit) == MAGENTA, f"a match at ratio 2: {lit}")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_redraws_release_memory(driver, work):
    """50 selections (ranges and comparisons, with a search) do not grow the page: after a
    garbage collection its DOM nodes, event listeners and script heap are where they were
    after 10, so each redraw lets go of the previous graph (its elements and listeners)."""
    url = render_page(work, "busy", busy_perf_script())
    open_page(driver, url)
    driver.execute_cdp_cmd("HeapProfiler.enable", {})

    def measure():
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        counters = driver.execute_cdp_cmd("Memory.getDOMCounters", {})
        heap = driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"]
        return counters["nodes"], counters["jsEventListeners"], heap
    rng = random.Random(9)
    seen = {}
    for index in range(1, 51):
        a = rng.randrange(0, 180) / 10
        fragment = f"#t={a:g}-{a + rng.randrange(1, 20) / 10:g}"
        if index % 3 == 0:
            b = rng.randrange(0, 180) / 10
            fragment += f"&t2={b:g}-{b + 1.5:g}"
        if index % 4 == 0:
            fragment += "&s=fn_1"
        set_fragment(driver, fragment)
        if index in (10, 50):
            seen[index] = measure()
    nodes, listeners, heap = seen[10]
    expect(seen[50][0] <= nodes + 20, f"DOM nodes after 10 and 50 selections: {seen[10][0]}, {seen[50][0]}")
    expect(seen[50][1] <= listeners, f"event listeners after 10 and 50 selections: {seen[10][1]}, {seen[50][1]}")
    expect(seen[50][2] <= heap * 1.25 + 2e6, f"script heap after 10 and 50 selections: {seen[10][2]:,}, {seen[50][2]:,} bytes")


def check_lanes_are_bounded(driver, work):
    """300 threads (a system-wide recording has thousands): the 200 busiest get lanes, and a
    line says how many are not drawn."""
    lines = []
    for index in range(3000):
        tid = 1000 + index % 300
        count = 1 + (tid < 1100)  # the first 100 threads twice as busy: they must be drawn
        for _ in range(count):
            lines.append(f"worker 1000/{tid} [000] {100 + index * 0.001:.6f}: 1000000 cpu-clock:\n"
                         f"\t    4005d0 f{index % 7}+0x10 (/tmp/x)\n")
    target = os.path.join(work, "threads.html")
    subprocess.run([EMBER, "render", "-", "-o", target], input="\n".join(lines).encode(), check=True)
    open_page(driver, "file://" + target)
    tids = driver.execute_script("return Array.from(document.querySelectorAll('#tracks .track')).map(function (g) {"
                                 "  return +g.getAttribute('data-tid'); })")
    expect(len(tids) == 200, f"{len(tids)} lanes")
    expect(all(1000 + t in tids for t in range(100)), "the busiest threads have lanes")
    note = driver.find_element(By.ID, "tracks-note").text
    expect(note.startswith("100 more threads"), f"note: {note!r}")


def narrow_perf_script():
    """perf script text, one thread, a sample a millisecond in shuffled order: under main,
    `wide` (5,000 samples), 50 `mid_K` of 20 (about 4 px: drawn, too narrow for a label)
    and 100 `tiny_K` of 1 (a fifth of a pixel: one "(100 more)" sliver)."""
    leaves = ["wide"] * 5000 + [f"mid_{k}" for k in range(50) for _ in range(20)] + [f"tiny_{k}" for k in range(100)]
    random.Random(3).shuffle(leaves)
    lines = []
    for index, leaf in enumerate(leaves):
        lines.append(f"app 900/900 [000] {100 + index * 0.001:.6f}: 1000000 cpu-clock:\n"
                     f"\t    4005d0 {leaf}+0x10 (/tmp/narrow)\n\t    4004b0 main+0x20 (/tmp/narrow)\n")
    return "\n".join(lines)


def check_narrow_frames_in_range(driver, work):
    """A range's graph keeps what the SVG has for frames too narrow for a label (drawn
    without one) and frames narrower than a pixel (a sliver): tooltips, search colour, zoom."""
    target = os.path.join(work, "narrow.html")
    subprocess.run([EMBER, "render", "-", "-o", target], input=narrow_perf_script().encode(), check=True)
    open_page(driver, "file://" + target + "#t=0-6.1")
    # Found by pointing at each painted box: the tooltip is what the page looks up there.
    mid = None
    for item in painted(driver):
        if dispatch(driver, "mousemove", item).startswith("mid_7" + "20,000,000"):
            mid = item
    expect(mid is not None, "no drawn frame mid_7 with its tooltip")
    expect(mid["label"] == "" and 3 < mid["width"] < 5, f"mid_7 (4 px) shows a label: {mid}")
    tip = dispatch(driver, "mousemove", mid)
    expect("0.33% of total" in tip and "self: 20,000,000" in tip, f"mid_7's tooltip: {tip!r}")
    # Between frames (the pixel row under a frame's box) the pointer is on nothing.
    x, y = client_point(driver, mid)
    driver.execute_script("document.elementFromPoint(arguments[0], arguments[1]).dispatchEvent(new MouseEvent('mousemove',"
                          " { bubbles: true, clientX: arguments[0], clientY: arguments[1] }))", x, y + mid["height"] / 2 + 0.5)
    hidden = driver.find_element(By.ID, "tip").get_attribute("class")
    expect(hidden == "h", f"a tooltip in the gap between rows: {hidden!r}")
    move_to(driver, mid)
    outline = driver.execute_script(
        "var o = document.getElementById('outline'), b = o.getBoundingClientRect(), c = document.getElementById('graph-canvas').getBoundingClientRect();"
        "return [getComputedStyle(o).stroke, o.getAttribute('class'), b.left - c.left, b.width]")
    expect(outline[0] == "rgb(0, 0, 0)" and outline[1] is None, f"mid_7 under the pointer is not outlined: {outline}")
    expect(abs(outline[2] - mid["x"]) < 1 and abs(outline[3] - mid["width"]) < 1, f"the outline is not mid_7's box: {outline}, {mid}")
    sliver = next((item for item in painted(driver) if item["sliver"] and item["name"] == "(100 more)"), None)
    expect(sliver is not None, "no (100 more) sliver for the tiny frames")
    expect(pixel(driver, sliver) == (200, 200, 200, 255), f"the sliver is not painted grey: {pixel(driver, sliver)}")
    tip = dispatch(driver, "mousemove", sliver)
    expect(tip.startswith("100 frames narrower than a pixel"), f"sliver's tooltip: {tip!r}")
    # The search colours the narrow frame, and the sliver of a match it stands for.
    set_fragment(driver, "#t=0-6.1&s=" + urllib.parse.quote("^(mid_7|tiny_42)$", safe=""))
    lit = [item["name"] for item in painted(driver) if item["highlighted"]]
    expect(lit == ["mid_7", "(100 more)"], f"search colours: {lit}")
    expect(pixel(driver, mid) == MAGENTA and pixel(driver, sliver) == MAGENTA,
           f"search colours painted: {pixel(driver, mid)}, {pixel(driver, sliver)}")
    # A click zooms on it: it fills the width, with its label.
    dispatch(driver, "click", mid)
    next_frame(driver)
    wait_until(lambda: fragment_of(driver), lambda value: "&x=" in value)
    zoomed = painted_frame(driver, "mid_7")
    expect(zoomed is not None and 1179 < zoomed["width"] < 1181, f"mid_7 zoomed to {zoomed}")
    expect(pixel(driver, zoomed, dx=zoomed["width"] - 20) == MAGENTA, "the zoomed match is not painted magenta")
    fragment = driver.execute_script("return location.hash")
    expect(fragment.startswith("#t=0-6.1&x=") and "&y=3" in fragment, f"fragment after the zoom: {fragment!r}")
    # Its ancestors stay, dimmed (painted at 55% opacity).
    main = painted_frame(driver, "main")
    expect(main is not None and main["dimmed"] and pixel(driver, main)[3] in (140, 141), f"main in the zoom: {main}")


def check_narrow_frames_in_a_comparison(driver, work):
    """A Shift-selection's graph: frames too narrow for a label that are only in the first
    range are drawn "gone" (faded, dashed), those only in the second "new" (outlined)."""
    lines = []
    for index in range(7000):
        phase = index // 3500
        k = index % 100
        leaf = "wide" if k >= 40 else (f"old_{k}" if phase == 0 else f"new_{k}")
        lines.append(f"app 900/900 [000] {100 + index * 0.001:.6f}: 1000000 cpu-clock:\n"
                     f"\t    4005d0 {leaf}+0x10 (/tmp/narrow)\n\t    4004b0 main+0x20 (/tmp/narrow)\n")
    open_page(driver, render_page(work, "narrow-diff", "\n".join(lines)) + "#t=0-3.5&t2=3.5-7")
    items = painted(driver)
    kinds = {}
    for item in items:
        if item["kind"]:
            key = item["kind"] + " " + item["name"].split("_")[0] + (" labelled" if item["label"] else "")
            kinds[key] = kinds.get(key, 0) + 1
    expect(kinds == {"gone old": 40, "new new": 40}, f"narrow gone and new frames: {kinds}")
    gone = next(item for item in items if item["kind"] == "gone")
    new = next(item for item in items if item["kind"] == "new")
    # On the canvas: gone faded (half opacity) inside a dashed grey outline (its first dash
    # starts at the top left), new outlined in dark red.
    inside, edge = pixel(driver, gone, dx=gone["width"] / 2, dy=gone["height"] / 2), pixel(driver, gone, dx=round(gone["x"]) - gone["x"] + 1.5, dy=0.5)
    expect(inside[3] in (127, 128) and edge == (85, 85, 85, 255), f"a narrow gone frame is painted {inside}, {edge}")
    edge = pixel(driver, new, dx=round(new["x"]) - new["x"] + 0.5)
    expect(edge == (153, 0, 0, 255), f"a narrow new frame's outline is {edge}")
    tip = dispatch(driver, "mousemove", gone)
    expect(tip.startswith("old_") and "change: gone" in tip, f"a narrow gone frame's tooltip: {tip!r}")


def row_labels(driver, row):
    """The labels shown in row `row` of the graph (0: the root's), left to right."""
    return [item["label"] for item in painted(driver) if item["row"] == row and not item["sliver"] and item["label"]]


def render_page(work, name, text, *options):
    target = os.path.join(work, name + ".html")
    subprocess.run([EMBER, "render", "-", "-o", target, *options], input=text.encode(), check=True)
    return "file://" + target


def two_paths_perf_script():
    """perf script text: `main;alpha;leaf1` three times as often as `main;beta;leaf2`."""
    lines = []
    for index in range(400):
        caller, leaf = ("beta", "leaf2") if index % 4 == 0 else ("alpha", "leaf1")
        lines.append(f"app 900/900 [000] {100 + index * 0.005:.6f}: 1000000 cpu-clock:\n"
                     f"\t    4005d0 {leaf}+0x10 (/tmp/paths)\n\t    4005b0 {caller}+0x10 (/tmp/paths)\n"
                     f"\t    4004b0 main+0x20 (/tmp/paths)\n")
    return "\n".join(lines)


def check_render_options(driver, work):
    """The flame-graph options of `ember render` that a range's graph honours."""
    # --reverse: leaf functions at the root.
    open_page(driver, render_page(work, "reverse", two_paths_perf_script(), "--reverse") + "#t=0-2")
    expect(sorted(row_labels(driver, 1)) == ["leaf1", "leaf2"], f"--reverse: row 1 is {row_labels(driver, 1)}")
    # --base: re-rooted on beta; alpha's stacks are in no graph.
    open_page(driver, render_page(work, "base", two_paths_perf_script(), "--base", "beta") + "#t=0-2")
    expect(row_labels(driver, 1) == ["beta"] and not graph_has(driver, "alpha"), f"--base: row 1 is {row_labels(driver, 1)}")
    # Layout, colours and text options, on the narrow frames' input.
    url = render_page(work, "options", narrow_perf_script(), "--min-width", "5", "--sort", "weight", "--inverted",
                      "--colors", "aqua", "--width", "900", "--height", "20", "--bg-colors", "#123456",
                      "--count-name", "widgets", "--subtitle", "<b>sub</b>", "--notes", "a note")
    open_page(driver, url + "#t=0-6.1")
    geometry = driver.execute_script(
        "var svg = document.getElementById('ember');"
        "return [+svg.getAttribute('width'), document.getElementById('graph-canvas').getBoundingClientRect().width,"
        "  document.querySelector('#bgg stop').getAttribute('stop-color')]")
    expect(geometry[0] == 900 and geometry[1] == 900, f"--width 900: {geometry[:2]}")
    items = painted(driver)
    rows = {item["row"]: item for item in items}
    expect(rows[0]["y"] < rows[1]["y"], f"--inverted: the root's row is not above the next: {rows[0]}, {rows[1]}")
    expect(rows[0]["height"] == 19 and rows[1]["y"] - rows[0]["y"] == 20, f"--height 20: {rows[0]}, {rows[1]}")
    expect(geometry[2] == "#123456", f"--bg-colors: {geometry[2]}")
    # --min-width 5: the 50 frames of about 3 px join the tiny ones' sliver.
    slivers = [item["name"] for item in items if item["sliver"]]
    expect(slivers == ["(150 more)"], f"--min-width 5: slivers {slivers}")
    # --sort weight: main's widest child first; --colors aqua: blue-green, not hot.
    expect(row_labels(driver, 3)[:1] == ["wide"], f"--sort weight: {row_labels(driver, 3)}")
    wide = painted_frame(driver, "wide")
    fill = wide["fill"]
    red, green = int(fill[1:3], 16), int(fill[3:5], 16)
    expect(red < green, f"--colors aqua: wide is {fill}")
    expect(pixel(driver, wide, dy=3)[:3] == (red, green, int(fill[5:7], 16)), f"wide is not painted {fill}: {pixel(driver, wide, dy=3)}")
    tip = dispatch(driver, "mousemove", wide)
    expect("5,000,000,000 widgets" in tip, f"--count-name: {tip!r}")
    subtitle = driver.find_element(By.ID, "page-subtitle").get_attribute("textContent")
    expect(subtitle == "<b>sub</b>", f"--subtitle: {subtitle!r}")
    notes = driver.execute_script("return document.querySelector('meta[name=description]').content")
    expect(notes == "a note", f"--notes: {notes!r}")
    expect(driver.execute_script("return document.querySelectorAll('b').length") == 0, "the subtitle made an element")


def check_folded_says_why(driver, work):
    source = os.path.join(work, "plain.folded")
    target = os.path.join(work, "plain.html")
    with open(source, "w") as out:
        out.write("main;alpha 30\nmain;beta 10\n")
    subprocess.run([EMBER, "render", source, "-o", target], check=True)
    open_page(driver, "file://" + target)
    note = driver.find_element(By.ID, "heat-note").text
    expect("no times" in note, f"note: {note!r}")
    expect(not driver.find_element(By.ID, "heatmap").is_displayed(), "a heat map without times")
    names = frame_names(driver)
    expect("alpha" in names and "beta" in names, f"graph of the whole profile: {names}")


def main():
    checks = Checks()
    driver = make_driver()
    recorded = {}

    def recording(name, *command, dwarf=False, options=()):
        def run():
            recorded[name] = "file://" + record(name, *command, dwarf=dwarf, options=options)
        return run

    def with_page(name, check):
        def run():
            if name not in recorded:
                raise Skip(f"no recording of {name}")
            check(driver, recorded[name])
        return run

    try:
        checks.run("record samples/phases to .html (counted samples with times)", recording("phases", "phases", "2"))
        checks.run("a #t= range shows only its half's function", with_page("phases", check_range_shows_its_phase))
        checks.run("dragging on the heat map selects the range", with_page("phases", check_heat_map_drag))
        checks.run("Shift-drag: differential graph of the two ranges", with_page("phases", check_shift_selection_diff))
        checks.run("zoom and search kept beside #t=", with_page("phases", check_zoom_and_search_in_fragment))
        checks.run("no request, no console error", with_page("phases", check_no_requests))
        checks.run("record samples/staggered to .html (DWARF samples)", recording("staggered", "staggered", "3", "0.8", dwarf=True))
        checks.run("thread tracks begin when each thread started", with_page("staggered", check_thread_tracks))
        checks.run("record samples/blocking --off-cpu to .html", recording("off-cpu", "blocking", "2", options=("--off-cpu",)))
        checks.run("off-CPU blocks are intervals; a range takes its share", with_page("off-cpu", check_off_cpu_intervals))
        checks.run("record samples/blocking --wall to .html", recording("wall", "blocking", "2", options=("--wall",)))
        checks.run("wall-clock: a range has on- and off-CPU time", with_page("wall", check_wall_clock_ranges))
        checks.run("hostile names and title stay inert", check_hostile_names_inert, driver, WORK)
        checks.run("narrow frames: tooltip, search colour, sliver, zoom", check_narrow_frames_in_range, driver, WORK)
        checks.run("narrow frames in a comparison: new and gone", check_narrow_frames_in_a_comparison, driver, WORK)
        checks.run("render options: reverse, base, min-width, sort, colours, sizes, titles", check_render_options, driver, WORK)
        checks.run("folded input: no heat map, and why", check_folded_says_why, driver, WORK)
        checks.run("thousands of threads: the busiest get lanes", check_lanes_are_bounded, driver, WORK)
        checks.run("heat map cells shaded by their samples", check_heat_map_cells, driver, WORK)
        checks.run("device pixel ratio 2: the canvas at device resolution", check_crisp_at_device_pixel_ratio, driver, WORK)
        checks.run("50 selections do not grow the page's memory", check_redraws_release_memory, driver, WORK)
    finally:
        driver.quit()
    print(f"timeview: {checks.passed} passed, {checks.failed} failed, {checks.skipped} skipped")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
