"""Profiler results as torch presents them: ``FunctionEvent`` (one range), ``FunctionEventAvg``
(ranges with one key added up, from ``key_averages``) and ``EventList.table``, with torch's
columns, widths and number formats. Times are in microseconds, as torch's."""

import math


def _format_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_share(us, total):
    return "NaN" if total == 0 else f"{us * 100.0 / total:.2f}%"


def _format_memory(nbytes):
    kb, mb, gb = 1024, 1024**2, 1024**3
    if abs(nbytes) >= gb:
        return f"{nbytes / gb:.2f} GB"
    if abs(nbytes) >= mb:
        return f"{nbytes / mb:.2f} MB"
    if abs(nbytes) >= kb:
        return f"{nbytes / kb:.2f} KB"
    return f"{nbytes} B"


def _in_unit(us, unit):
    if unit == "s":
        return f"{us / 1e6:.3f}s"
    if unit == "ms":
        return f"{us / 1e3:.3f}ms"
    if unit == "us":
        return f"{us:.3f}us"
    return _format_time(us)


def estimate_flops(name, shapes):
    """Multiply-adds times two for the product ops (torch counts matmul, linear and conv
    FLOPs only); 0 for the rest or when the shapes were not recorded."""
    op = name.rsplit("::", 1)[-1]
    try:
        if op in ("matmul", "mm", "bmm") and len(shapes) >= 2:
            a, b = shapes[0], shapes[1]
            if len(a) >= 2 and len(b) >= 2:
                batch = math.prod(a[:-2]) if len(a) > 2 else 1
                return 2 * batch * a[-2] * a[-1] * b[-1]
        if op == "linear" and len(shapes) >= 2 and shapes[0] and shapes[1]:
            x, w = shapes[0], shapes[1]
            return 2 * math.prod(x[:-1]) * x[-1] * w[0]
        if op.startswith("conv") and len(shapes) >= 2 and len(shapes[1]) >= 3:
            x, w = shapes[0], shapes[1]
            # (N, C, H, W) input, (K, C/g, R, S) weight: the output's spatial size is not
            # known here, so count at the input's (stride 1, same padding)
            return 2 * x[0] * math.prod(x[2:]) * math.prod(w)
    except (TypeError, IndexError):
        return 0
    return 0


class FunctionEvent:
    """One recorded range (torch.autograd.profiler_util.FunctionEvent): ``name``, times in
    microseconds (``cpu_time_total``, ``self_cpu_time_total``), ``input_shapes``,
    ``cpu_parent`` and ``cpu_children``, ``stack``, and memory when profiled."""

    def __init__(
        self, id, name, cat, thread, start_us, end_us, input_shapes, stack, self_mem, mem, flops
    ):
        self.id = id
        self.name = self.key = name
        self.trace_name = name  # the name in a Chrome trace (ProfilerStep#3, not ProfilerStep*)
        self.category = cat
        self.thread = thread
        self.time_range_start, self.time_range_end = start_us, end_us
        self.input_shapes = input_shapes
        self.stack = stack or []
        self.self_cpu_memory_usage = self_mem
        self.cpu_memory_usage = mem
        self.flops = flops
        self.cpu_parent = None
        self.cpu_children = []
        self.count = 1
        self.is_user_annotation = cat == "user_annotation"
        self.device_time_total = self.self_device_time_total = 0.0
        self.node_id = -1

    @property
    def cpu_time_total(self):
        return self.time_range_end - self.time_range_start

    @property
    def self_cpu_time_total(self):
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    @property
    def cpu_time(self):
        return self.cpu_time_total

    def __repr__(self):
        return (
            f"<FunctionEvent id={self.id} name={self.name} cpu_time={_format_time(self.cpu_time)}"
            f" start_us={self.time_range_start:.3f} end_us={self.time_range_end:.3f}"
            f" input_shapes={self.input_shapes}>"
        )


class FunctionEventAvg:
    """Events of one key added up (torch's FunctionEventAvg): ``count``, ``cpu_time_total``,
    ``self_cpu_time_total``, ``cpu_time`` (the average), memory and FLOPs."""

    def __init__(self, key):
        self.key = key
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.flops = 0
        self.input_shapes = None
        self.stack = None
        self.cpu_parent = None
        self.is_user_annotation = False
        self.device_time_total = self.self_device_time_total = 0.0
        self.node_id = -1

    def add(self, ev):
        """Add one FunctionEvent's times."""
        self.count += ev.count
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        self.cpu_memory_usage += ev.cpu_memory_usage
        self.self_cpu_memory_usage += ev.self_cpu_memory_usage
        self.flops += ev.flops
        self.is_user_annotation = ev.is_user_annotation
        return self

    @property
    def cpu_time(self):
        return 0.0 if self.count == 0 else self.cpu_time_total / self.count

    def __repr__(self):
        return (
            f"<FunctionEventAvg key={self.key}"
            f" self_cpu_time={_format_time(self.self_cpu_time_total)}"
            f" cpu_time={_format_time(self.cpu_time)} input_shapes={self.input_shapes}>"
        )


class EventList(list):
    """A list of events with torch's ``table``, ``key_averages`` and ``total_average``."""

    def __init__(self, *args, profile_memory=False, with_flops=False):
        super().__init__(*args)
        self._profile_memory = profile_memory
        self._with_flops = with_flops

    def key_averages(self, group_by_input_shapes=False, group_by_stack_n=0):
        """Events with the same name (and input shapes, and first ``group_by_stack_n`` stack
        frames, when asked) added up, in order of first appearance."""
        out = {}
        for ev in self:
            key = (ev.key,)
            if group_by_input_shapes:
                key += (str(ev.input_shapes),)
            if group_by_stack_n > 0:
                key += tuple(ev.stack[:group_by_stack_n])
            avg = out.get(key)
            if avg is None:
                avg = out[key] = FunctionEventAvg(ev.key)
                if group_by_input_shapes:
                    avg.input_shapes = ev.input_shapes
                if group_by_stack_n > 0:
                    avg.stack = ev.stack[:group_by_stack_n]
            avg.add(ev)
        return EventList(
            out.values(), profile_memory=self._profile_memory, with_flops=self._with_flops
        )

    def total_average(self):
        """All events added up into one FunctionEventAvg (key ``Total``)."""
        total = FunctionEventAvg("Total")
        for ev in self:
            total.add(ev)
        return total

    @property
    def self_cpu_time_total(self):
        return sum(ev.self_cpu_time_total for ev in self)

    def table(
        self,
        sort_by=None,
        row_limit=100,
        max_src_column_width=75,
        max_name_column_width=55,
        max_shapes_column_width=80,
        header=None,
        top_level_events_only=False,
        time_unit=None,
    ):
        """torch's summary table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time
        avg, (CPU Mem, Self CPU Mem with profile_memory), # of Calls, then Input Shapes when
        grouped by input shape, Source Location when grouped by stack, Total FLOPs with
        with_flops. ``sort_by`` names an attribute (``cpu_time_total``, ``self_cpu_time_total``,
        ``count``, ...), largest first."""
        return _build_table(
            self,
            sort_by,
            row_limit,
            max_src_column_width,
            max_name_column_width,
            max_shapes_column_width,
            header,
            top_level_events_only,
            time_unit,
        )


def _build_table(
    events, sort_by, row_limit, max_src, max_name, max_shapes, header, top_level_only, time_unit
):
    if not events:
        return ""
    profile_memory, with_flops = events._profile_memory, events._with_flops
    if sort_by is not None:
        attr = sort_by.replace("cuda", "device").replace("xpu", "device")
        events = sorted(events, key=lambda e: getattr(e, attr), reverse=True)
    has_shapes = any(e.input_shapes for e in events)
    stacks = [e.stack for e in events if e.stack]
    name_w = min(max(len(e.key) for e in events) + 4, max_name)
    shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes)
    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    fmt, sep, width = "", "", -2

    def column(w, align=">"):
        nonlocal fmt, sep, width
        fmt += "{: " + align + str(w) + "}  "
        sep += "-" * w + "  "
        width += w + 2

    column(name_w)
    for _ in headers[1:]:
        column(12)
    if has_shapes:
        headers.append("Input Shapes")
        column(shapes_w)
    if stacks:
        src_w = min(max(len(s) for st in stacks for s in st) + 4, max_src)
        headers.append("Source Location")
        column(src_w, "<")
    flops = [e.flops for e in events if e.flops > 0]
    if with_flops and flops:
        scale_i = int(max(0, min(math.log10(min(flops)) / 3, 5)))
        scale = 10 ** (-3 * scale_i)
        headers.append(
            "Total " + ["FLOPs", "KFLOPs", "MFLOPs", "GFLOPs", "TFLOPs", "PFLOPs"][scale_i]
        )
        column(12)
    else:
        with_flops = False
    lines = []
    total_self = sum(e.self_cpu_time_total for e in events)
    if header is not None:
        lines += ["=" * width, header]
    if top_level_only:
        lines += ["=" * width, "This report only display top-level ops statistics"]
    lines += [sep, fmt.format(*headers), sep]
    shown = 0
    for e in events:
        if shown == row_limit:
            break
        if top_level_only and e.cpu_parent is not None:
            continue
        shown += 1
        name = e.key if len(e.key) < max_name - 3 else e.key[: max_name - 3] + "..."
        row = [
            name,
            _format_share(e.self_cpu_time_total, total_self),
            _in_unit(e.self_cpu_time_total, time_unit),
            _format_share(e.cpu_time_total, total_self),
            _in_unit(e.cpu_time_total, time_unit),
            _in_unit(e.cpu_time, time_unit),
        ]
        if profile_memory:
            row += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
        row.append(e.count)
        if has_shapes:
            row.append(str(e.input_shapes)[:shapes_w])
        if stacks:
            row.append(_trim(e.stack[0], src_w) if e.stack else "")
        if with_flops:
            row.append("--" if e.flops <= 0 else f"{e.flops * scale:8.3f}")
        lines.append(fmt.format(*row))
        if stacks:
            blank = [""] * (len(headers) - 1)
            for entry in e.stack[1:]:
                lines.append(fmt.format(*(blank + [_trim(entry, src_w)])))
            lines.append(fmt.format(*([""] * len(headers))))
    lines += [sep, f"Self CPU time total: {_in_unit(total_self, time_unit)}"]
    return "\n".join(lines) + "\n"


def _trim(path, width):
    if len(path) > width:
        path = path[len(path) - width :]
        if len(path) > 3:
            path = "..." + path[3:]
    return path
