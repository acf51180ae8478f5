/// The markup, style sheet and script of the time view's page (see ``TimeView``). None of
/// them contains user data: the title is escaped into the `<title>` element, everything else
/// is read from the embedded JSON, and names are handled only as text (`textContent`).
/// The page's Content-Security-Policy allows no request at all (no fetch, image, font or
/// frame): only the inline script and style run.
enum TimeViewAssets {
    static let pageOpening: StaticString = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width">
        <title>
        """

    static let titleClosing: StaticString = "</title>\n"
    /// `--notes`, kept in the page as the SVG keeps them in its `<desc>`: stored, not drawn.
    static let notesOpening: StaticString = "<meta name=\"description\" content=\""
    static let notesClosing: StaticString = "\">\n"
    static let pageStyleOpening: StaticString = "<style>"

    static let pageBody: StaticString = """
        </style></head>
        <body>
        <h1 id="page-title"></h1><p id="page-subtitle" class="note"></p>
        <section id="heat"><h2>Samples over time <span class="hint">one column per second, one row per 20 ms; \
        drag to select a range, Shift-drag a second range to compare with the first</span></h2>
        <div id="heat-scroll"><svg id="heatmap" xmlns="http://www.w3.org/2000/svg"></svg></div>
        <p id="heat-status" class="note">&#160;</p><p id="heat-note" class="note"></p></section>
        <section id="threads"><h2>Threads <span class="hint">when each thread was sampled; drag to select</span></h2>
        <div id="tracks-scroll"><svg id="tracks" xmlns="http://www.w3.org/2000/svg"></svg></div>
        <p id="tracks-note" class="note"></p></section>
        <div id="bar"><span id="range-text"></span> <button id="whole" type="button">Whole recording</button></div>
        <div id="graph-holder"></div>
        <script type="application/json" id="ember-data">
        """

    static let scriptOpening: StaticString = "</script>\n<script>\n(function () {\n'use strict';\n"

    static let pageClosing: StaticString = "})();\n</script>\n</body></html>\n"

    static let style: StaticString = """
        body{margin:0;padding:8px 14px;font:13px Verdana,sans-serif;background:#fafafa;color:#111}\
        h1{font-size:17px;margin:4px 0}h2{font-size:13px;margin:12px 0 4px}.hint,.note{color:#666;font-size:12px;font-weight:normal}\
        .note{margin:2px 0}#heat-scroll,#tracks-scroll{overflow-x:auto}#heatmap,#tracks{display:block;user-select:none;cursor:crosshair}\
        #heatmap .bgc,#tracks .lane{fill:#ebebeb}#heatmap .axis,#tracks .axis{fill:#555;font-size:10px}\
        #tracks .on{fill:#d9502a}#tracks .off{fill:#4a78d0}#tracks .proc{fill:#111;font-weight:bold;font-size:11px}#tracks .tname{fill:#222;font-size:11px}\
        .sel-a{fill:rgba(0,80,230,.16);stroke:#0048d0;stroke-width:1}.sel-b{fill:rgba(0,160,60,.18);stroke:#00802c;stroke-width:1}\
        .drag{fill:rgba(110,110,110,.22);stroke:#444;stroke-dasharray:3 2}#bar{margin:10px 0 6px}#bar button{font:inherit}\
        #range-text .a{color:#0048d0}#range-text .b{color:#00802c}\
        #graph #outline{fill:none;stroke:#000;stroke-width:.6;pointer-events:none}\
        @media (prefers-color-scheme:dark){#graph #outline{stroke:#fff}body{background:#1c1c21;color:#e4e4e4}#heatmap .bgc,#tracks .lane{fill:#2b2b31}\
        #heatmap .axis,#tracks .axis{fill:#aaa}.hint,.note{color:#aaa}#tracks .proc,#tracks .tname{fill:#e4e4e4}\
        #range-text .a{color:#7aa2ff}#range-text .b{color:#5fd08a}}
        """

    static let script: StaticString = #"""
        var doc = document, svgNS = 'http://www.w3.org/2000/svg';
        var island = doc.getElementById('ember-data'), data = JSON.parse(island.textContent);
        island.textContent = '';  // the text is as large as the recording: parsed, it is not needed
        function make(name, attrs, parent) {
          var e = doc.createElementNS(svgNS, name);
          for (var key in attrs) e.setAttribute(key, attrs[key]);
          if (parent) parent.appendChild(e);
          return e;
        }
        function text(name, attrs, content, parent) {
          var e = make(name, attrs, parent);
          e.textContent = content;
          return e;
        }
        doc.getElementById('page-title').textContent = data.title;
        doc.getElementById('page-subtitle').textContent = data.subtitle;

        // Samples in time order: seconds since the start, leaf node, thread, weight.
        var count = data.time.length, times = new Float64Array(count), micros = 0;
        for (var i = 0; i < count; i++) { micros += data.time[i]; times[i] = micros / 1e6; }
        var leaf = Int32Array.from(data.node), threadOf = Int32Array.from(data.thread);
        var weight = data.weight ? Float64Array.from(data.weight) : null;
        // Off-CPU blocks are intervals: each ended at its time, `length` seconds long. The
        // rest are points (a sample covers its period, too short to draw).
        var length = new Float64Array(count), blocks = [];
        if (data.length) for (i = 0; i < count; i++) if (data.length[i] > 0) { length[i] = data.length[i] / 1e6; blocks.push(i); }
        function weightOf(i) { return weight ? weight[i] : 1; }
        // What sample i adds to [a, b): all of it for a point inside, the overlap's share for a block.
        function share(i, a, b) {
          if (!length[i]) return times[i] >= a && times[i] < b ? weightOf(i) : 0;
          var overlap = Math.min(times[i], b) - Math.max(times[i] - length[i], a);
          return overlap > 0 ? weightOf(i) * overlap / length[i] : 0;
        }
        var nodeCount = data.parent.length, parent = Int32Array.from(data.parent), labelOf = Int32Array.from(data.label);
        // The columns are kept once, as typed arrays: the parsed ones cost as much again.
        data.time = data.node = data.thread = data.weight = data.length = data.parent = data.label = null;
        var depth = new Int32Array(nodeCount);
        for (i = 1; i < nodeCount; i++) depth[i] = depth[parent[i]] + 1;
        var labels = data.labels, integral = data.integral;
        var amountFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: integral && !blocks.length ? 0 : 1 });
        function amount(v) { return amountFormat.format(v) + ' ' + data.countName; }
        var duration = Math.max(data.duration / 1e6, count ? times[count - 1] : 0, 1e-3);
        function hex(color) { return '#' + (0x1000000 + color).toString(16).slice(1); }
        function lowerBound(t) {
          var lo = 0, hi = count;
          while (lo < hi) { var mid = (lo + hi) >> 1; if (times[mid] < t) lo = mid + 1; else hi = mid; }
          return lo;
        }
        // The smallest of 1, 2 and 5 times a power of ten that is at least `least`.
        function niceStep(least) {
          var power = Math.pow(10, Math.floor(Math.log10(Math.max(least, 1e-6))));
          return [1, 2, 5, 10].map(function (m) { return m * power; }).filter(function (v) { return v >= least; })[0];
        }
        function seconds(t) { return String(Math.round(t * 1000) / 1000); }
        function rangeText(r) { return r[0].toFixed(3) + '\u2013' + r[1].toFixed(3) + ' s'; }

        var sel = null, sel2 = null, instance = null, drag = null;

        // The heat map, in FlameScope's layout: a column per second, a row per 20 ms slice
        // (the start of the second at the top), each cell shaded by its samples.
        var slices = 50, cellH = 5, heatLeft = 46, heatTop = 16;
        var columns = Math.max(1, Math.floor(duration - 1e-9) + 1);
        var cellW = Math.max(13, Math.min(40, Math.floor((data.width - heatLeft - 8) / columns)));
        var heat = doc.getElementById('heatmap'), heatLayer = null, heatNote = doc.getElementById('heat-note');
        var heatStatus = doc.getElementById('heat-status');
        var cells = new Float64Array(columns * slices);
        function slotOf(t) { return Math.min(columns * slices - 1, Math.max(0, Math.floor(t * slices + 1e-9))); }
        if (data.noTime) {
          heat.style.display = 'none';
          heatStatus.style.display = 'none';
          heatNote.textContent = data.noTime;
          doc.getElementById('threads').style.display = 'none';
        } else {
          for (i = 0; i < count; i++) {
            if (!length[i]) { cells[slotOf(times[i])] += weightOf(i); continue; }
            for (var slot = slotOf(times[i] - length[i]); slot <= slotOf(times[i]); slot++) {
              cells[slot] += share(i, slot / slices, (slot + 1) / slices);
            }
          }
          var most = 0;
          for (i = 0; i < cells.length; i++) most = Math.max(most, cells[i]);
          var heatW = heatLeft + columns * cellW + 8, heatH = heatTop + slices * cellH + 16;
          heat.setAttribute('width', heatW);
          heat.setAttribute('height', heatH);
          heat.setAttribute('data-left', heatLeft);
          heat.setAttribute('data-top', heatTop);
          heat.setAttribute('data-cell-width', cellW);
          heat.setAttribute('data-cell-height', cellH);
          make('rect', { 'class': 'bgc', x: heatLeft, y: heatTop, width: columns * cellW, height: slices * cellH }, heat);
          // The cells are painted on a canvas (at the device pixel ratio of the load): a long
          // recording has 50 a second, too many elements for the browser to create and style.
          var cellCanvas = doc.createElement('canvas'), ratio = window.devicePixelRatio || 1;
          cellCanvas.id = 'heat-cells';
          cellCanvas.width = Math.round(columns * cellW * ratio);
          cellCanvas.height = Math.round(slices * cellH * ratio);
          cellCanvas.style.width = columns * cellW + 'px';
          cellCanvas.style.height = slices * cellH + 'px';
          cellCanvas.style.display = 'block';
          make('foreignObject', { x: heatLeft, y: heatTop, width: columns * cellW, height: slices * cellH }, heat).appendChild(cellCanvas);
          var cellContext = cellCanvas.getContext('2d'), byShade = [];
          cellContext.setTransform(ratio, 0, 0, ratio, 0, 0);
          for (i = 0; i < cells.length; i++) {
            if (!cells[i]) continue;
            var shade = Math.round(235 * (1 - cells[i] / most));
            (byShade[shade] || (byShade[shade] = [])).push(i);
          }
          byShade.forEach(function (list, shade) {
            cellContext.fillStyle = 'rgb(255,' + shade + ',' + Math.round(shade * 0.85) + ')';
            list.forEach(function (cell) {
              cellContext.fillRect(Math.floor(cell / slices) * cellW, (cell % slices) * cellH, cellW - 1, cellH);
            });
          });
          var step = niceStep(32 / cellW);
          for (var c = 0; c < columns; c += step) {
            text('text', { 'class': 'axis', x: heatLeft + c * cellW, y: heatTop - 4 }, c + ' s', heat);
          }
          [0, 250, 500, 750].forEach(function (ms) {
            text('text', { 'class': 'axis', x: 2, y: heatTop + (ms / 20) * cellH + 8 }, ms + ' ms', heat);
          });
          heatLayer = make('g', {}, heat);
          var heatSlot = function (evt) {
            var box = heat.getBoundingClientRect();
            var col = Math.floor((evt.clientX - box.left - heatLeft) / cellW), row = Math.floor((evt.clientY - box.top - heatTop) / cellH);
            if (col < 0 || row < 0 || col >= columns || row >= slices) return -1;
            return col * slices + row;
          };
          heat.addEventListener('mousedown', function (evt) {
            var slot = heatSlot(evt);
            if (slot < 0) return;
            evt.preventDefault();
            drag = { from: slot, to: slot, second: evt.shiftKey, heat: true };
            drawSelections();
          });
          heat.addEventListener('mousemove', function (evt) {
            var slot = heatSlot(evt);
            if (slot >= 0) {
              heatStatus.textContent = seconds(Math.floor(slot / slices)) + ' s + ' + (slot % slices) * 20 + ' ms: ' +
                amount(cells[slot]);
            }
            if (drag && drag.heat && slot >= 0 && slot !== drag.to) { drag.to = slot; drawSelections(); }
          });
        }
        function heatRange(d) {
          return [Math.min(d.from, d.to) / slices, (Math.max(d.from, d.to) + 1) / slices];
        }
        // A range on the heat map: per column, the run of its slices inside the range.
        function drawHeatRange(range, cls) {
          if (!heatLayer || !range) return;
          var first = slotOf(range[0]), last = Math.max(first, Math.ceil(range[1] * slices - 1e-6) - 1);
          last = Math.min(last, columns * slices - 1);
          for (var col = Math.floor(first / slices); col <= Math.floor(last / slices); col++) {
            var top = col === Math.floor(first / slices) ? first % slices : 0;
            var bottom = col === Math.floor(last / slices) ? last % slices : slices - 1;
            make('rect', { 'class': cls, x: heatLeft + col * cellW - 0.5, y: heatTop + top * cellH, width: cellW, height: (bottom - top + 1) * cellH }, heatLayer);
          }
        }

        // Thread tracks, grouped by process: one lane per thread, marked where it was sampled.
        var tracks = doc.getElementById('tracks'), trackLayer = null;
        var labelW = 190, trackH = 13, plotW = Math.max(200, data.width - labelW - 10), maxLanes = 200;
        function trackX(t) { return labelW + t / duration * plotW; }
        if (!data.noTime) {
          var firstSample = new Float64Array(data.threads.length).fill(Infinity);
          for (i = 0; i < count; i++) firstSample[threadOf[i]] = Math.min(firstSample[threadOf[i]], Math.max(0, times[i] - length[i]));
          // A system-wide recording can have thousands of threads: the busiest get lanes.
          var amountOfThread = new Float64Array(data.threads.length), shown = new Uint8Array(data.threads.length);
          for (i = 0; i < count; i++) amountOfThread[threadOf[i]] += weightOf(i);
          var ranked = [];
          for (i = 0; i < data.threads.length; i++) if (firstSample[i] !== Infinity) ranked.push(i);
          ranked.sort(function (a, b) { return amountOfThread[b] - amountOfThread[a] || a - b; });
          ranked.slice(0, maxLanes).forEach(function (index) { shown[index] = 1; });
          if (ranked.length > maxLanes) {
            doc.getElementById('tracks-note').textContent = (ranked.length - maxLanes) + ' more threads with fewer ' +
              data.countName + ' are not drawn (the ' + maxLanes + ' busiest are).';
          }
          var byProcess = {}, processes = [];
          data.threads.forEach(function (thread, index) {
            if (!shown[index]) return;
            var pid = thread[0];
            if (!byProcess[pid]) { byProcess[pid] = { pid: pid, name: thread[3], threads: [], first: Infinity }; processes.push(byProcess[pid]); }
            byProcess[pid].threads.push(index);
            byProcess[pid].first = Math.min(byProcess[pid].first, firstSample[index]);
          });
          processes.sort(function (a, b) { return a.first - b.first || a.pid - b.pid; });
          // Per thread, the pixels of the plot in which it has samples.
          var columnsOn = {}, blocksOf = {};
          for (i = 0; i < count; i++) {
            if (length[i]) { (blocksOf[threadOf[i]] || (blocksOf[threadOf[i]] = [])).push(i); continue; }
            var lane = columnsOn[threadOf[i]] || (columnsOn[threadOf[i]] = new Uint8Array(plotW + 1));
            lane[Math.min(plotW, Math.floor(times[i] / duration * plotW))] = 1;
          }
          var y = 18, laneGroup = make('g', {}, tracks);
          var tick = niceStep(duration * 60 / plotW);
          for (var t = 0; t <= duration + 1e-9; t += tick) {
            text('text', { 'class': 'axis', x: trackX(t), y: 10 }, seconds(t) + ' s', tracks);
          }
          processes.forEach(function (proc) {
            var title = (proc.name || 'process') + (proc.pid >= 0 ? ' (pid ' + proc.pid + ')' : '');
            text('text', { 'class': 'proc', x: 2, y: y + 10 }, title, laneGroup);
            y += 15;
            proc.threads.sort(function (a, b) { return firstSample[a] - firstSample[b] || data.threads[a][1] - data.threads[b][1]; });
            proc.threads.forEach(function (index) {
              var thread = data.threads[index];
              var g = make('g', { 'class': 'track', 'data-tid': thread[1], 'data-pid': thread[0] }, laneGroup);
              text('text', { 'class': 'tname', x: 12, y: y + 10 }, (thread[2] || 'thread') + (thread[1] >= 0 ? ' ' + thread[1] : ''), g);
              make('rect', { 'class': 'lane', x: labelW, y: y, width: plotW, height: trackH - 2 }, g);
              (blocksOf[index] || []).forEach(function (b) {
                var x0 = trackX(Math.max(0, times[b] - length[b])), x1 = trackX(times[b]);
                make('rect', { 'class': 'off', x: x0, y: y + 2, width: Math.max(1, x1 - x0), height: trackH - 6 }, g);
              });
              var on = columnsOn[index] || new Uint8Array(0);
              for (var x = 0; x < on.length; x++) {
                if (!on[x]) continue;
                var end = x;
                while (end + 1 < on.length && on[end + 1]) end++;
                make('rect', { 'class': 'on', x: labelW + x, y: y, width: end - x + 1, height: trackH - 2 }, g);
                x = end;
              }
              y += trackH;
            });
            y += 4;
          });
          tracks.setAttribute('width', labelW + plotW + 10);
          tracks.setAttribute('height', y + 4);
          tracks.setAttribute('data-left', labelW);
          tracks.setAttribute('data-plot-width', plotW);
          tracks.setAttribute('data-duration', duration);
          trackLayer = make('g', {}, tracks);
          var trackTime = function (evt) {
            var box = tracks.getBoundingClientRect();
            return Math.min(duration, Math.max(0, (evt.clientX - box.left - labelW) / plotW * duration));
          };
          tracks.addEventListener('mousedown', function (evt) {
            var box = tracks.getBoundingClientRect();
            if (evt.clientX - box.left < labelW) return;
            evt.preventDefault();
            var t = trackTime(evt);
            drag = { from: t, to: t, second: evt.shiftKey, heat: false, x: evt.clientX };
            drawSelections();
          });
          tracks.addEventListener('mousemove', function (evt) {
            if (drag && !drag.heat) { drag.to = trackTime(evt); drawSelections(); }
          });
        }
        function dragRange(d) {
          return d.heat ? heatRange(d) : [Math.round(Math.min(d.from, d.to) * 1000) / 1000, Math.round(Math.max(d.from, d.to) * 1000) / 1000];
        }
        window.addEventListener('mouseup', function (evt) {
          if (!drag) return;
          var d = drag, range = dragRange(d);
          drag = null;
          if (!d.heat && Math.abs(evt.clientX - d.x) < 3) { drawSelections(); return; }
          select(range, d.second);
        });
        function drawTrackRange(range, cls) {
          if (!trackLayer || !range) return;
          make('rect', { 'class': cls, x: trackX(range[0]), y: 14, width: Math.max(1, trackX(range[1]) - trackX(range[0])), height: Math.max(0, tracks.getAttribute('height') - 16) }, trackLayer);
        }
        function drawSelections() {
          if (heatLayer) heatLayer.textContent = '';
          if (trackLayer) trackLayer.textContent = '';
          [[sel, 'sel-a'], [sel2, 'sel-b'], [drag ? dragRange(drag) : null, 'drag']].forEach(function (pair) {
            drawHeatRange(pair[0], pair[1]);
            drawTrackRange(pair[0], pair[1]);
          });
          var line = doc.getElementById('range-text');
          line.textContent = '';
          function part(cls, content) { var s = doc.createElement('span'); s.className = cls; s.textContent = content; line.appendChild(s); }
          if (!sel) part('', 'The whole recording' + (data.noTime ? '' : ' (' + rangeText([0, duration]) + ')'));
          else if (!sel2) part('a', 'Selected: ' + rangeText(sel) + ' (' + amount(amountIn(sel)) + ')');
          else {
            part('a', 'Before: ' + rangeText(sel) + ' (' + amount(amountIn(sel)) + ')');
            part('', ', ');
            part('b', 'after: ' + rangeText(sel2) + ' (' + amount(amountIn(sel2)) + ')');
          }
        }
        function amountIn(range) {
          var total = 0, end = lowerBound(range[1]);
          for (var i = lowerBound(range[0]); i < end; i++) if (!length[i]) total += weightOf(i);
          for (i = 0; i < blocks.length; i++) total += share(blocks[i], range[0], range[1]);
          return total;
        }

        // The flame graph of a range: its samples' weights summed up the tree (a node's id
        // is larger than its parent's), laid out in node order (a parent's children follow it
        // in drawing order), drawn as the SVG writer draws, and made interactive by the SVG's
        // own script.
        function weightsOf(range) {
          var w = new Float64Array(nodeCount), first = range ? lowerBound(range[0]) : 0, end = range ? lowerBound(range[1]) : count;
          for (var i = first; i < end; i++) if (!range || !length[i]) w[leaf[i]] += weightOf(i);
          for (i = 0; range && i < blocks.length; i++) w[leaf[blocks[i]]] += share(blocks[i], range[0], range[1]);
          if (!range) for (i = 0; i < data.untimedNode.length; i++) w[data.untimedNode[i]] += data.untimedWeight[i];
          for (var n = nodeCount - 1; n > 0; n--) w[parent[n]] += w[n];
          return w;
        }
        function differentialColor(ratio) {
          var fade = Math.round(255 * (1 - Math.min(1, Math.abs(ratio))));
          return ratio >= 0 ? 'rgb(255,' + fade + ',' + fade + ')' : 'rgb(' + fade + ',' + fade + ',255)';
        }
        function buildGraph() {
          var differential = !!(sel && sel2), after = weightsOf(differential ? sel2 : sel), before = null, widths = after, factor = 1;
          var subtitle = sel ? rangeText(sel) : 'the whole recording';
          if (differential) {
            before = weightsOf(sel);
            // As ember diff: BEFORE scaled to AFTER's total, widths the larger of each frame's own
            // before and after, plus its children's.
            factor = before[0] > 0 ? after[0] / before[0] : 1;
            for (var n = 0; n < nodeCount; n++) before[n] *= factor;
            widths = new Float64Array(nodeCount);
            var childA = new Float64Array(nodeCount), childB = new Float64Array(nodeCount), childW = new Float64Array(nodeCount);
            for (n = nodeCount - 1; n >= 0; n--) {
              widths[n] = childW[n] + Math.max(after[n] - childA[n], before[n] - childB[n], 0);
              if (n > 0) { childA[parent[n]] += after[n]; childB[parent[n]] += before[n]; childW[parent[n]] += widths[n]; }
            }
            subtitle = 'before: ' + rangeText(sel) + (factor !== 1 ? ' (scaled \u00d7' + factor.toFixed(3) + ')' : '') + ', after: ' + rangeText(sel2);
          }
          var fontSize = data.fontSize, frameH = data.frameHeight, width = data.width, xpad = 10, innerW = width - 2 * xpad;
          var start = new Float64Array(nodeCount), cursor = new Float64Array(nodeCount), rows = [];
          for (n = 0; n < nodeCount; n++) {
            if (!(widths[n] > 0)) continue;
            if (n > 0) { start[n] = cursor[parent[n]]; cursor[parent[n]] += widths[n]; }
            cursor[n] = start[n];
            (rows[depth[n]] || (rows[depth[n]] = [])).push(n);
          }
          var total = widths[0], scale = total > 0 ? innerW / total : 1;
          var topPad = fontSize * 5, bottomPad = fontSize * 2 + 10, imageH = topPad + Math.max(rows.length, 1) * frameH + bottomPad;
          var charWidth = fontSize * 0.59, labelY = (frameH - 1) / 2 + fontSize / 4;
          // Frames narrower than --min-width (pixels, or a percentage of the range's total)
          // join their parent's sliver; narrower than a pixel they always do.
          var drawnWidth = Math.max(1, data.minWidthPixels || 0, (data.minWidthPercent || 0) / 100 * innerW);
          var svg = make('svg', {
            version: '1.1', id: 'ember', width: width, height: imageH, viewBox: '0 0 ' + width + ' ' + imageH,
            'font-family': data.fontType, 'font-size': fontSize, 'data-char-width': charWidth, 'data-label-y': labelY,
            'data-total': total, 'data-all-samples': after[0], 'data-xpad': xpad, 'data-drawn-width': drawnWidth, 'data-inner-width': innerW,
            'data-integral': integral && factor === 1 && !(sel && blocks.length) ? 1 : 0, 'data-differential': differential ? 1 : 0,
            'data-count-name': data.countName, 'data-name-type': data.nameType
          });
          var gradient = make('linearGradient', { id: 'bgg', y1: 0, y2: 1, x1: 0, x2: 0 }, make('defs', {}, svg));
          make('stop', { 'stop-color': data.background[0], offset: '5%' }, gradient);
          make('stop', { 'stop-color': data.background[1], offset: '95%' }, gradient);
          make('rect', { id: 'bg', width: '100%', height: '100%', fill: 'url(#bgg)' }, svg);
          function chrome(id, cls, x, y, anchor, content, size) {
            var attrs = { id: id, 'class': cls, x: x, y: y };
            if (anchor) attrs['text-anchor'] = anchor;
            if (size) attrs['font-size'] = size;
            return text('text', attrs, content, svg);
          }
          var bottom = imageH - bottomPad / 2;
          chrome('title', 'ui', width / 2, fontSize * 2, 'middle', differential ? 'Differential Flame Graph' : 'Flame Graph', fontSize + 5);
          chrome('subtitle', 'ui', width / 2, fontSize * 4, 'middle', subtitle);
          chrome('details', 'ui', xpad, bottom, null, ' ');
          chrome('unzoom', 'ui btn h', xpad, fontSize * 2, null, 'Reset Zoom');
          chrome('search', 'ui btn', width - xpad - fontSize * 2.5, fontSize * 2, 'end', 'Search');
          chrome('ic', 'ui btn', width - xpad, fontSize * 2, 'end', 'ic');
          chrome('matched', 'ui', width - xpad, bottom, 'end', ' ');
          if (!rows.length) chrome('empty', 'ui', width / 2, topPad + frameH, 'middle', 'No samples in this range');
          var clip = make('clipPath', { id: 'graph-area' }, svg);
          make('rect', { x: xpad, y: topPad, width: innerW, height: rows.length * frameH }, clip);
          var graphG = make('g', { id: 'graph', 'clip-path': 'url(#graph-area)' }, svg);
          make('foreignObject', { x: 0, y: topPad, width: width, height: rows.length * frameH }, graphG).appendChild(canvas);
          graphG.appendChild(outlineBox);
          surface.setGraph({
            top: topPad, width: width, rows: rows.length, frameHeight: frameH, inverted: !!data.inverted,
            font: fontSize + 'px ' + data.fontType, fallbackFont: fontSize + 'px sans-serif', labelY: labelY
          });

          // The frames, row by row in drawing order, for the flame graph function to draw.
          var frameCount = 0, rowFirst = new Int32Array(rows.length + 1);
          for (var r = 0; r < rows.length; r++) { frameCount += rows[r].length; rowFirst[r + 1] = frameCount; }
          var frameOf = new Int32Array(nodeCount), nodeOf = new Int32Array(frameCount);
          var frames = {
            rowFirst: rowFirst, start: new Float64Array(frameCount), width: new Float64Array(frameCount),
            parent: new Int32Array(frameCount), names: new Array(frameCount), frameHeight: frameH,
            before: differential ? new Float64Array(frameCount) : null, after: differential ? new Float64Array(frameCount) : null
          };
          for (r = 0; r < rows.length; r++) {
            for (var k = 0, f = rowFirst[r]; k < rows[r].length; k++, f++) {
              n = rows[r][k];
              frameOf[n] = f;
              nodeOf[f] = n;
              frames.start[f] = start[n];
              frames.width[f] = widths[n];
              frames.parent[f] = n === 0 ? -1 : frameOf[parent[n]];
              frames.names[f] = labels[labelOf[n]];
              if (differential) { frames.before[f] = before[n]; frames.after[f] = after[n]; }
            }
          }
          var largest = 0;
          if (differential) for (n = 1; n < nodeCount; n++) largest = Math.max(largest, Math.abs(after[n] - before[n]));
          frames.fill = differential ? function (f) {
            var n = nodeOf[f];
            return differentialColor(largest > 0 ? (after[n] - before[n]) / largest : 0);
          } : function (f) { return fills[labelOf[nodeOf[f]]]; };
          graphFrames = frames;
          return svg;
        }
        var fills = data.colors.map(hex), graphFrames = null;

        // The frames of the selection's graph are painted on one canvas, kept from graph to
        // graph: thousands of SVG elements cost the browser far more to create, style, lay out
        // and paint than a canvas costs to fill. The flame graph function says what to paint
        // (the items of its view) and asks what is under the pointer; the items, in rows from
        // left to right, are also what the pointer is looked up in. Names are drawn with
        // fillText, which is text by nature (tooltips still set textContent). The canvas is
        // scaled by the device pixel ratio, so text stays crisp on a high-density screen.
        var canvas = doc.createElement('canvas'), context = canvas.getContext('2d');
        canvas.id = 'graph-canvas';
        canvas.style.display = 'block';
        var outlineBox = make('rect', { id: 'outline', 'class': 'h' });
        var surface = (function () {
          var graph = null, items = [], itemsOfRow = [], ratio = 1, ratioQuery = null;
          function rowTop(row) { return (graph.inverted ? row : graph.rows - 1 - row) * graph.frameHeight; }
          function paint(list) {
            outline(null);
            items = list;
            itemsOfRow = [];
            for (var k = 0; k < items.length; k++) (itemsOfRow[items[k].row] || (itemsOfRow[items[k].row] = [])).push(k);
            if ((window.devicePixelRatio || 1) !== ratio || !ratioQuery) watchRatio(window.devicePixelRatio || 1);
            var w = graph.width, h = graph.rows * graph.frameHeight, boxH = graph.frameHeight - 1;
            // Setting the size (even to the same) clears the canvas and resets its context,
            // whose font takes a while to set: only a new size is set.
            var pixelsW = Math.max(1, Math.round(w * ratio)), pixelsH = Math.max(1, Math.round(h * ratio));
            if (canvas.width !== pixelsW || canvas.height !== pixelsH || context.font !== graph.font) {
              canvas.width = pixelsW;
              canvas.height = pixelsH;
              canvas.style.width = w + 'px';
              canvas.style.height = h + 'px';
              context.font = graph.font;
            }
            context.setTransform(ratio, 0, 0, ratio, 0, 0);
            context.globalAlpha = 1;
            context.clearRect(0, 0, w, h);
            // The boxes, one path and one fill per colour and opacity (setting a colour costs
            // more than a box, and frames share a few hundred colours).
            var groups = new Map(), outlines = { 'new': [], gone: [] };
            for (k = 0; k < items.length; k++) {
              var item = items[k], alpha = (item.dim ? 0.55 : 1) * (item.kind === 'gone' ? 0.5 : 1);
              var key = (item.hl ? '#e600e6' : item.fill) + ' ' + alpha, group = groups.get(key);
              if (!group) groups.set(key, group = { fill: item.hl ? '#e600e6' : item.fill, alpha: alpha, items: [] });
              group.items.push(item);
              if (item.kind) outlines[item.kind].push(item);
            }
            var rounded = typeof context.roundRect === 'function';
            groups.forEach(function (group) {
              context.globalAlpha = group.alpha;
              context.fillStyle = group.fill;
              context.beginPath();
              group.items.forEach(function (item) {
                // Rounded as the SVG's frames are (rx 2), which keeps neighbours apart.
                if (item.w < 3 || !rounded) context.rect(item.x, rowTop(item.row), item.w, boxH);
                else context.roundRect(item.x, rowTop(item.row), item.w, boxH, 2);
              });
              context.fill();
            });
            // Outlines of one pixel on the pixel grid, inside the frame's box: a frame a pixel or two
            // wide becomes all outline, so that a narrow "new" or "gone" frame still shows.
            [['new', '#990000', []], ['gone', '#555555', [3, 2]]].forEach(function (style) {
              var list = outlines[style[0]];
              if (!list.length) return;
              context.globalAlpha = 1;
              context.strokeStyle = style[1];
              context.lineWidth = 1;
              context.setLineDash(style[2]);
              context.beginPath();
              list.forEach(function (item) {
                var x0 = Math.round(item.x), x1 = Math.round(item.x + item.w);
                context.rect(x0 + 0.5, rowTop(item.row) + 0.5, Math.max(0, x1 - x0 - 1), boxH - 1);
              });
              context.stroke();
            });
            context.setLineDash([]);
            context.fillStyle = '#000';
            var labelAlpha = -1;
            for (k = 0; k < items.length; k++) {
              item = items[k];
              if (!item.label) continue;
              if ((item.dim ? 0.55 : 1) !== labelAlpha) context.globalAlpha = labelAlpha = item.dim ? 0.55 : 1;
              context.fillText(item.label, item.x + 3, rowTop(item.row) + graph.labelY);
            }
            context.globalAlpha = 1;
          }
          // The item under a mouse event, or -1: its row from the height, then the last item
          // of the row that starts at or before the pointer.
          function itemAt(evt) {
            var box = canvas.getBoundingClientRect();
            if (!graph || !box.width || !box.height) return -1;
            var x = (evt.clientX - box.left) * graph.width / box.width;
            var y = (evt.clientY - box.top) * graph.rows * graph.frameHeight / box.height;
            var slot = Math.floor(y / graph.frameHeight), row = graph.inverted ? slot : graph.rows - 1 - slot;
            var list = itemsOfRow[row];
            if (!list || y - slot * graph.frameHeight >= graph.frameHeight - 1) return -1;
            var lo = 0, hi = list.length;
            while (lo < hi) { var mid = (lo + hi) >> 1; if (items[list[mid]].x <= x) lo = mid + 1; else hi = mid; }
            var k = lo > 0 ? list[lo - 1] : -1;
            return k >= 0 && x < items[k].x + Math.max(items[k].w, 1) ? k : -1;
          }
          function outline(item) {
            canvas.style.cursor = item ? 'pointer' : '';
            if (!item) { outlineBox.setAttribute('class', 'h'); return; }
            outlineBox.setAttribute('x', item.x);
            outlineBox.setAttribute('y', graph.top + rowTop(item.row));
            outlineBox.setAttribute('width', item.w);
            outlineBox.setAttribute('height', graph.frameHeight - 1);
            outlineBox.removeAttribute('class');
          }
          // What the canvas shows, for tests and for a look from the console: each item's
          // name, label, box (CSS pixels of the canvas), colour and looks.
          canvas.paintedItems = function () {
            return items.map(function (item) {
              return {
                name: item.name, label: item.label, row: item.row, x: item.x, y: rowTop(item.row), width: item.w,
                height: graph.frameHeight - 1, fill: item.hl ? '#e600e6' : item.fill, kind: item.kind,
                highlighted: item.hl, dimmed: item.dim, sliver: !!item.run
              };
            });
          };
          // A new device pixel ratio (the browser's zoom, a move to another screen) paints
          // the canvas again at the new resolution: a media query of the current one says
          // when it stops matching.
          function watchRatio(value) {
            ratio = value;
            if (ratioQuery) ratioQuery.removeEventListener('change', paintAgain);
            ratioQuery = window.matchMedia('(resolution: ' + ratio + 'dppx)');
            ratioQuery.addEventListener('change', paintAgain);
          }
          function paintAgain() { if (graph) paint(items); }
          return {
            setGraph: function (g) {
              graph = g;
              items = [];
              itemsOfRow = [];
              outline(null);
              // An invalid --font-type leaves the fallback (a context ignores a font it cannot parse).
              context.font = g.fallbackFont;
              context.font = g.font;
              graph.font = context.font;
            },
            paint: paint, itemAt: itemAt, outline: outline
          };
        })();
        var host = {
          keys: ['t', 't2'],
          viewParts: function () {
            var parts = [];
            if (sel) parts.push('t=' + seconds(sel[0]) + '-' + seconds(sel[1]));
            if (sel2) parts.push('t2=' + seconds(sel2[0]) + '-' + seconds(sel2[1]));
            return parts;
          }
        };
        function redraw() {
          if (instance) instance.dispose();
          var holder = doc.getElementById('graph-holder');
          holder.textContent = '';
          holder.appendChild(buildGraph());
          host.frames = graphFrames;
          host.surface = surface;
          instance = emberFlameGraph(doc.getElementById('ember'), host);
          host.frames = graphFrames = null;
        }
        function hashParams() {
          var params = {};
          location.hash.replace(/^#/, '').split('&').forEach(function (part) {
            var eq = part.indexOf('=');
            if (eq > 0) try { params[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1)); } catch (err) {}
          });
          return params;
        }
        function parseRange(value) {
          var m = /^(\d+(?:\.\d*)?|\.\d+)-(\d+(?:\.\d*)?|\.\d+)$/.exec(value || '');
          if (!m || data.noTime) return null;
          var a = parseFloat(m[1]), b = parseFloat(m[2]);
          return b > a ? [a, b] : null;
        }
        function same(a, b) { return a === b || (a && b && a[0] === b[0] && a[1] === b[1]); }
        // A new selection keeps the search; the zoom belongs to the graph it was made in.
        function select(range, second) {
          if (second && sel) sel2 = range; else { sel = range; sel2 = null; }
          var params = hashParams(), parts = host.viewParts();
          if (params.s) parts.push('s=' + encodeURIComponent(params.s));
          if (params.i === '1') parts.push('i=1');
          try { history.replaceState(null, '', location.pathname + location.search + (parts.length ? '#' + parts.join('&') : '')); } catch (err) {}
          drawSelections();
          redraw();
        }
        function applyHash() {
          var params = hashParams(), a = parseRange(params.t), b = a ? parseRange(params.t2) : null;
          if (instance && same(a, sel) && same(b, sel2)) { instance.loadState(); return; }
          sel = a;
          sel2 = b;
          drawSelections();
          redraw();
        }
        doc.getElementById('whole').addEventListener('click', function () { select(null, false); });
        window.addEventListener('hashchange', applyHash);
        if (!data.noTime && data.untimedNode.length) {
          var untimed = data.untimedWeight.reduce(function (a, b) { return a + b; }, 0);
          heatNote.textContent = untimed + ' ' + data.countName + ' have no time (counted in the kernel): they are in the ' +
            'graph of the whole recording, not in the graph of a range.';
        }
        applyHash();

        """#
}
