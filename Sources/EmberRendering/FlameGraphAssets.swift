/// The style sheet and script embedded in every flame graph (no external files: the SVG
/// must work offline and as a single attachment). Neither contains user data: everything
/// variable is read from attributes and element text at run time, and names are only
/// ever handled as text (`textContent`), never parsed as markup.
enum FlameGraphAssets {
    static let style: StaticString = """
        .ui{fill:#000}.btn{cursor:pointer}.btn:hover{text-decoration:underline}\
        #ic{opacity:.35}#ic.on{opacity:1}#search.on{fill:#b00}.h{display:none}\
        #graph text{fill:#000;pointer-events:none}#graph rect{rx:2px}#graph g g g,#graph g g>rect{cursor:pointer}\
        #graph g g g:hover>rect,#graph g g>rect:hover{stroke:#000;stroke-width:.6;vector-effect:non-scaling-stroke}\
        #graph .dim{opacity:.55}\
        #graph .new>rect,#graph rect.new{stroke:#900;stroke-width:1;vector-effect:non-scaling-stroke}\
        #graph .gone>rect,#graph rect.gone{fill-opacity:.5;stroke:#555;stroke-dasharray:3 2;vector-effect:non-scaling-stroke}\
        #graph .hl>rect,#graph rect.hl{fill:#e600e6}\
        #tip{pointer-events:none}#tip rect{fill:#fffff0;stroke:#777;stroke-width:.5}#tip text{fill:#000}\
        @media (prefers-color-scheme:dark){#bg,#cover{fill:#1c1c21}.ui{fill:#e4e4e4}#search.on{fill:#ff7070}\
        #graph g g g:hover>rect,#graph g g>rect:hover{stroke:#fff}#tip rect{fill:#2b2b31;stroke:#999}#tip text{fill:#eee}}
        """

    /// The script of an SVG flame graph: the flame graph function run on the document's graph.
    static var script: String { "\(scriptOpening)\(flameGraphFunction)\(scriptClosing)" }

    static let scriptOpening: StaticString = "\n(function () {\n'use strict';\n"
    static let scriptClosing: StaticString = """
        var graph = document.getElementById('ember');
        if (graph) emberFlameGraph(graph, null);
        })();

        """

    /// `emberFlameGraph(root, page)` makes the graph drawn in the SVG element `root`
    /// interactive (zoom, search, tooltips, the view in the URL). `page` is null in an SVG
    /// file; a page that draws graphs of its own (the time view) passes an object with
    /// `keys` (its own keys in the URL fragment), `viewParts()` (their current
    /// `key=value` parts), `frames` (the graph's frames as arrays, instead of frames drawn
    /// in `root` to read back) and `surface`, which paints what this function says to paint
    /// (`paint(items)`: the view's frames and slivers, each with its row, `x`, `w`, `fill`,
    /// `label`, `kind`, `hl`, `dim`), says what is under the pointer (`itemAt(event)`: an
    /// index into the items, or -1) and outlines it (`outline(item)`, null for none); the
    /// page listens for `hashchange` itself. Returns `loadState` (read the view from the URL
    /// again) and `dispose` (remove the document's listeners).
    static let flameGraphFunction: StaticString = #"""
        function emberFlameGraph(root, page) {
          var doc = document;
          function data(name) { return root.getAttribute('data-' + name) || ''; }
          var total = parseFloat(data('total')) || 0, allSamples = parseFloat(data('all-samples')) || 0;
          var xpad = parseFloat(data('xpad')), innerW = parseFloat(data('inner-width'));
          var integral = data('integral') === '1', differential = data('differential') === '1';
          var countName = data('count-name'), nameType = data('name-type');
          var scale = total > 0 ? innerW / total : 1;
          var graph = doc.getElementById('graph'), framesG = doc.getElementById('frames');
          var details = doc.getElementById('details');
          var matchedText = doc.getElementById('matched'), unzoomBtn = doc.getElementById('unzoom');
          var searchBtn = doc.getElementById('search'), icBtn = doc.getElementById('ic');

          // Every frame, row by row (row 0 is the root), each row ordered left to right. A drawn
          // frame is a group of a rect and its label; a frame narrower than a pixel is a line of
          // its row's metadata, "x width fill count [before after] name", where an empty line
          // stands for the next drawn frame. "(N more)" slivers drawn for those are not frames.
          // A page's frames come as arrays (`model`), and its surface paints them (below).
          var model = page && page.frames, surface = model ? page.surface : null;
          var el = [], hiddenFrames = [], rowFirst = model ? model.rowFirst : [0], slivers = [];
          var rows = framesG ? framesG.children : [];
          for (var r = 0; !model && r < rows.length; r++) {
            var kids = rows[r].children, shownKids = [], lines = null;
            for (var k = 0; k < kids.length; k++) {
              if (kids[k].localName === 'metadata') lines = kids[k].textContent.split('\n');
              else if (kids[k].getAttribute('class') !== 'run') shownKids.push(kids[k]);
              else slivers.push(r, kids[k]);
            }
            if (!lines) lines = shownKids.map(function () { return ''; }).concat('');
            for (var m = 0, d = 0; m + 1 < lines.length; m++) {
              el.push(lines[m] ? null : shownKids[d++]);
              hiddenFrames.push(lines[m]);
            }
            rowFirst.push(el.length);
          }
          var n = model ? model.start.length : el.length, rowCount = rowFirst.length - 1;
          var start = model ? model.start : new Float64Array(n), width = model ? model.width : new Float64Array(n);
          var own = new Float64Array(n), names = model ? model.names : [], fills = [];
          var more = new Int32Array(n).fill(1);  // frames a frame stands for: 1, or N for "(N more)"
          var depth = new Int32Array(n), parent = new Int32Array(n), shownChars = new Int32Array(n).fill(-1);  // -1: label hidden
          var charWidth = parseFloat(data('char-width')) || 7, labelY = data('label-y');
          var before = model && differential ? model.before : new Float64Array(differential ? n : 0);
          var after = model && differential ? model.after : new Float64Array(differential ? n : 0);
          var fillOf = model ? model.fill : function (i) { return fills[i]; };
          var eps = integral ? 0.5 : Math.max(total * 1e-9, 1e-12), fields = [];
          if (model) {
            for (r = 0; r < rowCount; r++) {
              for (i = rowFirst[r]; i < rowFirst[r + 1]; i++) { depth[i] = r; own[i] = width[i]; }
            }
            parent.set(model.parent);
            for (i = 1; i < n; i++) own[parent[i]] -= width[i];
          }
          for (r = 0; !model && r < rowCount; r++) {
            for (var i = rowFirst[r]; i < rowFirst[r + 1]; i++) {
              var f = el[i], x, w;
              if (f) {
                var box = f.firstElementChild, label = f.lastElementChild;
                x = parseFloat(box.getAttribute('x'));
                w = parseFloat(box.getAttribute('width'));
                names[i] = label.textContent;
                more[i] = parseInt(f.getAttribute('data-n'), 10) || 1;
                // How much of the label shows: -1 hidden, else the characters shown.
                shownChars[i] = label.getAttribute('class') === 'h' ? -1 :
                  label.lastChild && label.lastChild.nodeType === 1 ? label.firstChild.data.length : names[i].length;
                f.__emberFrame = i;
                if (differential) {
                  before[i] = parseFloat(box.getAttribute('data-b')) || 0;
                  after[i] = parseFloat(box.getAttribute('data-a')) || 0;
                }
              } else {
                var line = hiddenFrames[i], at = 0;
                for (var q = 0; q < (differential ? 6 : 4); q++) {
                  var space = line.indexOf(' ', at);
                  fields[q] = line.slice(at, space);
                  at = space + 1;
                }
                x = parseFloat(fields[0]);
                w = parseFloat(fields[1]);
                fills[i] = fields[2];
                more[i] = parseInt(fields[3], 10) || 1;
                names[i] = line.slice(at);
                shownChars[i] = -1;
                if (differential) {
                  before[i] = parseFloat(fields[4]) || 0;
                  after[i] = parseFloat(fields[5]) || 0;
                }
              }
              var s = (x - xpad) / scale;
              w /= scale;
              if (integral) { s = Math.round(s); w = Math.round(w); }
              start[i] = s; width[i] = w; own[i] = w; depth[i] = r; parent[i] = -1;
            }
            if (r === 0) continue;
            // A frame's parent is the frame of the row below that spans its start.
            var p = rowFirst[r - 1], last = rowFirst[r] - 1;
            for (i = rowFirst[r]; i < rowFirst[r + 1]; i++) {
              while (p < last && start[p] + width[p] <= start[i] + eps) p++;
              parent[i] = p;
              own[p] -= width[i];
            }
          }
          hiddenFrames = null;
          var svgNS = 'http://www.w3.org/2000/svg';
          var boxH = model ? model.frameHeight - 1 : n ? el[0].firstElementChild.getAttribute('height') : 0;
          var zoomed = -1, term = '', ignoreCase = false, matches = [], restoring = false;
          // isMatch[i]: frame i matches the search; inMatch[i]: it or a frame of its subtree does.
          var isMatch = new Uint8Array(n), inMatch = new Uint8Array(n);
          var clones = {}, zoomRuns = [], drawn = new Uint8Array(n);
          var drawnWidth = parseFloat(data('drawn-width')) || 1;

          function lowerBound(row, value) {
            var lo = rowFirst[row], hi = rowFirst[row + 1];
            while (lo < hi) { var mid = (lo + hi) >> 1; if (start[mid] < value) lo = mid + 1; else hi = mid; }
            return lo;
          }
          // The characters of a label that fit in `w` pixels (-1: none, hidden), never half a
          // surrogate pair.
          function labelChars(name, w) {
            var fit = Math.floor((w - 6) / charWidth), chars = fit < 3 ? -1 : Math.min(fit, name.length);
            if (chars > 0 && chars < name.length && /[\uD800-\uDBFF]/.test(name.charAt(chars - 1))) chars--;
            return chars;
          }
          // Shows as much of a label as fits in `w` pixels: the part that fits, then the rest
          // in a hidden tspan, so that the text always holds the whole name. `shown` is what
          // the label shows now (characters, -1 hidden): a label that keeps its text only moves.
          function setLabel(label, name, x, w, shown) {
            var chars = labelChars(name, w);
            if (chars < 0) {
              if (shown >= 0) { label.textContent = name; label.setAttribute('class', 'h'); }
              return;
            }
            label.setAttribute('x', x + 3);
            if (chars === shown) return;
            label.textContent = chars === name.length ? name : name.slice(0, chars);
            label.removeAttribute('class');
            label.setAttribute('y', labelY);
            if (chars < name.length) {
              var rest = doc.createElementNS(svgNS, 'tspan');
              rest.setAttribute('class', 'h');
              rest.textContent = name.slice(chars);
              label.appendChild(rest);
            }
          }
          // A zoomed view is drawn in its own layer, over a copy of the background, from copies
          // of the frames it shows; the full graph underneath is left untouched (changing it
          // would make the browser restyle every frame). As in the full graph, frames narrower
          // than drawnWidth pixels are not drawn: per drawn parent, each run of them becomes one
          // "(N more)" sliver. So a zoom costs in proportion to what the screen can show, not
          // to the size of the graph.
          var zoomLayer = doc.createElementNS(svgNS, 'g');
          zoomLayer.setAttribute('id', 'zoomed');
          if (graph && !surface) graph.appendChild(zoomLayer);
          function addClone(i, row, x, w, dim) {
            var copy = frameCopy(i);
            copy.__emberFrame = i;
            if (isMatch[i]) copy.classList.add('hl');
            copy.firstElementChild.setAttribute('x', x);
            copy.firstElementChild.setAttribute('width', w);
            if (dim) copy.setAttribute('class', (copy.getAttribute('class') || '') + ' dim');
            setLabel(copy.lastElementChild, names[i], x, w, shownChars[i]);
            row.appendChild(copy);
            clones[i] = copy;
          }
          // Hidden frames and slivers are drawn from a copy of an empty frame.
          var emptyFrame = doc.createElementNS(svgNS, 'g');
          emptyFrame.appendChild(doc.createElementNS(svgNS, 'rect'));
          emptyFrame.appendChild(doc.createElementNS(svgNS, 'text'));
          emptyFrame.firstChild.setAttribute('height', boxH);
          emptyFrame.lastChild.setAttribute('class', 'h');
          var fullSlivers = {};
          // A sliver stands for a run of hidden frames [first, end) of one drawn parent `up`,
          // and for their subtrees. host[i]: the first frame of the full graph's run that
          // stands for hidden frame i (-1 for a drawn frame).
          var host = new Int32Array(n);
          for (i = 0; !model && i < n; i++) {
            var up = parent[i];
            host[i] = el[i] ? -1 : up >= 0 && !el[up] ? host[up] : i > 0 && !el[i - 1] && parent[i - 1] === up ? host[i - 1] : i;
          }
          for (k = 0; !model && k < slivers.length; k += 2) {
            r = slivers[k];
            var first = lowerBound(r, (slivers[k + 1].firstElementChild.getAttribute('x') - xpad) / scale - eps), end = first;
            while (end < rowFirst[r + 1] && host[end] === first) end++;
            if (end === first) continue;
            slivers[k + 1].__emberRun = { up: parent[first], first: first, end: end };
            fullSlivers[first] = slivers[k + 1];
          }
          slivers = null;
          function kindOf(i) {
            return !differential ? '' : before[i] === 0 && after[i] > 0 ? 'new' : after[i] === 0 && before[i] > 0 ? 'gone' : '';
          }
          function frameCopy(i) {
            if (el[i] && el[i].localName === 'g') return el[i].cloneNode(true);
            var copy = emptyFrame.cloneNode(true), kind = kindOf(i);
            if (kind) copy.setAttribute('class', kind);
            copy.firstChild.setAttribute('fill', fillOf(i));
            copy.lastChild.textContent = names[i];
            return copy;
          }
          function addSliver(row, run) {
            var sliver = emptyFrame.cloneNode(true);
            sliver.__emberRun = run;
            zoomRuns.push(sliver);
            sliver.setAttribute('class', run.hl ? 'run hl' : 'run');
            sliver.firstChild.setAttribute('fill', '#c8c8c8');
            sliver.firstChild.setAttribute('x', run.x);
            sliver.firstChild.setAttribute('width', run.w);
            sliver.lastChild.textContent = '(' + run.count + ' more)';
            setLabel(sliver.lastChild, sliver.lastChild.textContent, run.x, run.w, -1);
            row.appendChild(sliver);
          }
          function clearZoom() {
            zoomLayer.textContent = '';
            clones = {};
            zoomRuns = [];
          }
          // Walks the view of frame i's subtree, filling the width: its ancestors first, each
          // `frame(j, row, x, w, true)` (dimmed, the whole width), then row by row, left to
          // right, each frame at least drawnWidth pixels wide whose parent is drawn as
          // `frame(j, row, x, w, false)`, and per drawn parent each run of narrower ones as
          // one `sliver(run, row)` (`run.first`, `run.end`: its frames; `run.hl`: a match among them or below).
          function walkView(i, frame, sliver) {
            var k = innerW / width[i], a = start[i], end = a + width[i] - eps;
            for (var p = parent[i]; p >= 0; p = parent[p]) {
              frame(p, depth[p], xpad, innerW, true);
              drawn[p] = 1;
            }
            for (var row = depth[i]; row < rowCount; row++) {
              var j = lowerBound(row, a - eps), stop = rowFirst[row + 1], run = null;
              if (j >= stop || start[j] >= end) break;
              for (; j < stop && start[j] < end; j++) {
                var x = xpad + (start[j] - a) * k, w = width[j] * k, up = parent[j];
                drawn[j] = (j === 0 || drawn[up]) && w >= drawnWidth ? 1 : 0;
                if (run && (drawn[j] || run.up !== up)) { run.end = j; sliver(run, row); run = null; }
                if (drawn[j]) frame(j, row, x, w, false);
                else if (j > 0 && drawn[up]) {
                  if (!run) run = { up: up, first: j, x: x, w: 0, count: 0, hl: 0 };
                  run.w += w;
                  run.count += more[j];
                  run.hl |= inMatch[j];
                }
              }
              if (run) { run.end = j; sliver(run, row); }
            }
          }
          // Draws the view of frame i's subtree into `layer`, one group per row.
          function drawView(i, layer) {
            var rowGroup = null, groupRow = -1;
            function rowOf(r) {
              if (r === groupRow) return rowGroup;
              rowGroup = doc.createElementNS(svgNS, 'g');
              rowGroup.setAttribute('transform', rows[r].getAttribute('transform'));
              layer.appendChild(rowGroup);
              groupRow = r;
              return rowGroup;
            }
            walkView(i, function (j, row, x, w, dim) { addClone(j, rowOf(row), x, w, dim); },
                     function (run, row) { addSliver(rowOf(row), run); });
          }
          // A page's graph: the items of the view, for its surface to paint (and to find
          // under the pointer). Painting waits while the view is read from the URL, which
          // zooms and searches: one paint for the whole view.
          var painted = [], paintPending = false;
          function paint() {
            if (restoring) { paintPending = true; return; }
            paintPending = false;
            painted = [];
            function labelOf(name, w) { var chars = labelChars(name, w); return chars < 0 ? '' : name.slice(0, chars); }
            walkView(zoomed > 0 ? zoomed : 0, function (j, row, x, w, dim) {
              painted.push({ frame: j, run: null, row: row, x: x, w: w, fill: fillOf(j), name: names[j],
                             label: labelOf(names[j], w), kind: kindOf(j), hl: isMatch[j] === 1, dim: dim });
            }, function (run, row) {
              var text = '(' + run.count + ' more)';
              painted.push({ frame: -1, run: run, row: row, x: run.x, w: run.w, fill: '#c8c8c8', name: text,
                             label: labelOf(text, run.w), kind: '', hl: run.hl === 1, dim: false });
            });
            surface.paint(painted);
          }
          // Zoom on frame i: its subtree fills the width, its ancestors stay (dimmed).
          function zoom(i) {
            if (!(i > 0 && i < n)) { unzoom(); return; }
            clearZoom();
            zoomed = i;
            if (surface) paint();
            else {
              var layer = doc.createDocumentFragment(), cover = doc.getElementById('bg').cloneNode(false);
              cover.setAttribute('id', 'cover');
              layer.appendChild(cover);
              drawView(i, layer);
              zoomLayer.appendChild(layer);
            }
            unzoomBtn.classList.remove('h');
            updateMatched();
            saveState();
          }
          function unzoom() {
            clearZoom();
            zoomed = -1;
            if (surface) paint();
            unzoomBtn.classList.add('h');
            updateMatched();
            saveState();
          }

          // A match hidden in the full graph colours the sliver that stands for it.
          function highlight(i, on) {
            if (surface) return;
            var shown = el[i] || fullSlivers[host[i]];
            if (shown) shown.classList.toggle('hl', on);
            if (clones[i]) clones[i].classList.toggle('hl', on);
          }
          function search(text) {
            for (var j = 0; j < matches.length; j++) highlight(matches[j], false);
            matches = [];
            isMatch.fill(0);
            inMatch.fill(0);
            term = text || '';
            var re = null;
            if (term) try { re = new RegExp(term, ignoreCase ? 'i' : ''); } catch (err) {}
            for (var i = 0; re && i < n; i++) {
              if (!re.test(names[i])) continue;
              highlight(i, true);
              matches.push(i);
              isMatch[i] = 1;
              for (var p = i; p >= 0 && !inMatch[p]; p = parent[p]) inMatch[p] = 1;
            }
            for (j = 0; j < zoomRuns.length; j++) {
              var run = zoomRuns[j].__emberRun, hl = false;
              for (i = run.first; i < run.end && !hl; i++) hl = inMatch[i] === 1;
              zoomRuns[j].classList.toggle('hl', hl);
            }
            if (surface) paint();
            if (re) { searchBtn.classList.add('on'); updateMatched(); }
            else if (term) matchedText.textContent = 'Invalid regular expression';
            else { searchBtn.classList.remove('on'); matchedText.textContent = ' '; }
            saveState();
          }
          // "Matched: N%": the part of the current view covered by matching frames,
          // counting nested matches once.
          function updateMatched() {
            if (!term || n === 0) return;
            var v = zoomed > 0 ? zoomed : 0, lo = start[v] - eps, hi = start[v] + width[v] + eps;
            var inView = [];
            for (var j = 0; j < matches.length; j++) {
              var m = matches[j];
              if (depth[m] >= depth[v] && start[m] >= lo && start[m] + width[m] <= hi) inView.push(m);
            }
            inView.sort(function (a, b) { return start[a] - start[b] || depth[a] - depth[b]; });
            var covered = 0, reach = -Infinity;
            for (j = 0; j < inView.length; j++) {
              var s = start[inView[j]], e = s + width[inView[j]];
              if (s >= reach) { covered += e - s; reach = e; } else if (e > reach) { covered += e - reach; reach = e; }
            }
            var pct = width[v] > 0 ? 100 * covered / width[v] : 0;
            matchedText.textContent = 'Matched: ' + pct.toFixed(1) + '%';
          }
          function askSearch() {
            var text = window.prompt('Search (regular expression' + (ignoreCase ? ', ignoring case' : '') + '):', term);
            if (text !== null) search(text);
          }
          function setIgnoreCase(on) {
            ignoreCase = on;
            icBtn.classList.toggle('on', on);
            if (term) search(term); else saveState();
          }

          // The view lives in the URL fragment: #x=START&y=DEPTH&s=REGEX&i=1. It is written after
          // the next frame: replaceState takes Chromium tens of milliseconds on a big graph,
          // which would delay the new view on screen. The same keys are read from the query
          // (?s=REGEX, as flamegraph.pl and inferno keep the search) when the fragment has none, and
          // taken out of it when the view is written, so that the fragment alone says the view.
          var savePending = false;
          function saveState() {
            if (restoring || savePending) return;
            savePending = true;
            requestAnimationFrame(function () { setTimeout(writeState, 0); });
          }
          function writeState() {
            savePending = false;
            var parts = page ? page.viewParts() : [];
            if (zoomed > 0) parts.push('x=' + start[zoomed], 'y=' + depth[zoomed]);
            if (term) parts.push('s=' + encodeURIComponent(term));
            if (ignoreCase) parts.push('i=1');
            var hash = parts.length ? '#' + parts.join('&') : '';
            var query = otherQuery();
            if (hash === location.hash && query === location.search) return;
            try { history.replaceState(null, '', location.pathname + query + hash); } catch (err) {}
          }
          var viewKeys = { x: 1, y: 1, s: 1, i: 1 };
          if (page) page.keys.forEach(function (key) { viewKeys[key] = 1; });
          // The query without the view's keys.
          function otherQuery() {
            var kept = location.search.replace(/^\?/, '').split('&').filter(function (part) {
              var eq = part.indexOf('=');
              return part !== '' && !viewKeys[eq < 0 ? part : part.slice(0, eq)];
            });
            return kept.length ? '?' + kept.join('&') : '';
          }
          function readParams(text, params) {
            text.split('&').forEach(function (part) {
              var eq = part.indexOf('=');
              if (eq > 0 && viewKeys[part.slice(0, eq)]) {
                try { params[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1)); } catch (err) {}
              }
            });
          }
          function loadState() {
            var params = {};
            readParams(location.hash.replace(/^#/, ''), params);
            if (Object.keys(params).length === 0) readParams(location.search.replace(/^\?/, ''), params);
            restoring = true;
            ignoreCase = params.i === '1';
            icBtn.classList.toggle('on', ignoreCase);
            var row = parseInt(params.y, 10), x = parseFloat(params.x), target = -1;
            if (row >= 0 && row < rowCount && isFinite(x)) {
              var j = lowerBound(row, x - eps);
              if (j < rowFirst[row + 1] && Math.abs(start[j] - x) <= eps) target = j;
            }
            if (target > 0) zoom(target); else unzoom();
            search(params.s || '');
            restoring = false;
            if (paintPending) paint();
          }

          // Tooltip and details line.
          var tip = doc.createElementNS(svgNS, 'g'), tipRect = doc.createElementNS(svgNS, 'rect');
          var tipText = doc.createElementNS(svgNS, 'text');
          tip.setAttribute('id', 'tip');
          tip.setAttribute('class', 'h');
          tipRect.setAttribute('rx', '3');
          tip.appendChild(tipRect);
          tip.appendChild(tipText);
          root.appendChild(tip);
          var integerFormat = new Intl.NumberFormat('en-US'), decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
          function amount(v) { return integral ? integerFormat.format(Math.round(v)) : decimalFormat.format(v); }
          function percent(v, of) { return (of > 0 ? (100 * v / of).toFixed(2) : '0.00') + '%'; }
          function signed(v, text) { return (v > 0 ? '+' : v < 0 ? '\u2212' : '') + text; }
          function describe(i) {
            var lines = [names[i]];
            if (differential) {
              var d = after[i] - before[i];
              lines.push('before: ' + amount(before[i]) + ' ' + countName + ', after: ' + amount(after[i]));
              lines.push('delta: ' + signed(d, amount(Math.abs(d))) + ' ' + countName + ' (' +
                         signed(d, percent(Math.abs(d), allSamples)) + ' of total)');
              lines.push('change: ' + (before[i] > 0 && after[i] === 0 ? 'gone (\u2212100.00%)' :
                                       before[i] > 0 ? signed(d, percent(Math.abs(d), before[i])) :
                                       after[i] > 0 ? 'new' : 'none'));
            } else {
              lines.push(amount(width[i]) + ' ' + countName + ', ' + percent(width[i], total) + ' of total');
              if (zoomed > 0) lines.push(percent(width[i], width[zoomed]) + ' of the zoomed frame');
            }
            lines.push('self: ' + amount(own[i]) + ' ' + countName + ' (' + percent(own[i], total) + ')');
            return lines;
          }
          // A sliver: what its frames add up to. `widest` is the widest of them.
          function sum(run) {
            var t = { count: 0, w: 0, b: 0, a: 0, widest: run.first };
            for (var j = run.first; j < run.end; j++) {
              t.count += more[j]; t.w += width[j];
              if (differential) { t.b += before[j]; t.a += after[j]; }
              if (width[j] > width[t.widest]) t.widest = j;
            }
            return t;
          }
          function describeRun(t) {
            var lines = [t.count + (t.count === 1 ? ' frame' : ' frames') + ' narrower than a pixel',
                         amount(t.w) + ' ' + countName + ', ' + percent(t.w, total) + ' of total'];
            if (differential) lines.push('before: ' + amount(t.b) + ' ' + countName + ', after: ' + amount(t.a));
            else if (zoomed > 0) lines.push(percent(t.w, width[zoomed]) + ' of the zoomed frame');
            lines.push('click to zoom');
            return lines;
          }
          // Clicking a sliver zooms on its parent, or, when that is the view already, on the
          // widest of its frames.
          function runTarget(run) {
            return run.up === (zoomed > 0 ? zoomed : 0) ? sum(run).widest : run.up;
          }
          function showTip(i, evt) {
            var t = typeof i === 'object' ? sum(i) : null, lines = t ? describeRun(t) : describe(i);
            while (tipText.firstChild) tipText.removeChild(tipText.firstChild);
            for (var j = 0; j < lines.length; j++) {
              var line = doc.createElementNS(svgNS, 'tspan');
              line.setAttribute('x', '0');
              line.setAttribute('dy', j === 0 ? '0' : '1.25em');
              line.textContent = lines[j];
              tipText.appendChild(line);
            }
            tip.setAttribute('class', '');
            var box = tipText.getBBox(), pt = root.createSVGPoint(), ctm = root.getScreenCTM();
            pt.x = evt.clientX; pt.y = evt.clientY;
            if (ctm) pt = pt.matrixTransform(ctm.inverse());
            var viewW = root.viewBox.baseVal.width, viewH = root.viewBox.baseVal.height;
            var tx = pt.x + 14, ty = pt.y + 22;
            if (tx + box.width + 8 > viewW) tx = Math.max(2, pt.x - box.width - 14);
            if (ty + box.height > viewH) ty = Math.max(box.height, pt.y - box.height - 4);
            tipRect.setAttribute('x', box.x - 5);
            tipRect.setAttribute('y', box.y - 4);
            tipRect.setAttribute('width', box.width + 10);
            tipRect.setAttribute('height', box.height + 8);
            tip.setAttribute('transform', 'translate(' + tx + ',' + ty + ')');
            details.textContent = t ? lines[0] + ' (' + amount(t.w) + ' ' + countName + ', ' + percent(t.w, total) + ')' :
              nameType + ' ' + names[i] + ' (' + amount(width[i]) + ' ' + countName + ', ' + percent(width[i], total) + ')';
          }
          function hideTip() {
            tip.setAttribute('class', 'h');
            details.textContent = ' ';
            if (surface) surface.outline(null);
          }
          // What the pointer is on: a frame's index, a sliver's run, or -1. On a page's
          // surface, the painted item (or null) it looks up.
          function paintedAt(evt) { return painted[surface.itemAt(evt)] || null; }
          function frameAt(evt) {
            if (surface) {
              var item = paintedAt(evt);
              return !item ? -1 : item.run || item.frame;
            }
            for (var t = evt.target; t && t !== graph; t = t.parentNode) {
              if (t.__emberFrame !== undefined) return t.__emberFrame;
              if (t.__emberRun) return t.__emberRun;
            }
            return -1;
          }

          if (graph) {
            graph.addEventListener('click', function (evt) {
              var i = frameAt(evt);
              if (typeof i === 'object') i = runTarget(i);
              if (i >= 0) { zoom(i); showTip(i, evt); }
            });
            graph.addEventListener('mousemove', function (evt) {
              var i = frameAt(evt);
              if (i !== -1) showTip(i, evt); else hideTip();
              if (surface) surface.outline(paintedAt(evt));
            });
            graph.addEventListener('mouseleave', hideTip);
          }
          unzoomBtn.addEventListener('click', unzoom);
          searchBtn.addEventListener('click', function () { if (term) search(''); else askSearch(); });
          icBtn.addEventListener('click', function () { setIgnoreCase(!ignoreCase); });
          function onKey(evt) {
            var key = evt.key, mod = evt.ctrlKey || evt.metaKey;
            if ((mod && (key === 'f' || key === 'F')) || key === 'F3') {
              evt.preventDefault();
              askSearch();
            } else if (mod && (key === 'i' || key === 'I')) {
              evt.preventDefault();
              setIgnoreCase(!ignoreCase);
            } else if (key === 'Escape') {
              search('');
              unzoom();
              hideTip();
            }
          }
          doc.addEventListener('keydown', onKey);
          if (!page) window.addEventListener('hashchange', loadState);
          loadState();
          return {
            loadState: loadState,
            dispose: function () { doc.removeEventListener('keydown', onKey); }
          };
        }
        """#
}
