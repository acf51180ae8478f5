#!/usr/bin/env python3
"""Writes a synthetic `perf script` dump for benchmarks, as `perf record -a -g` and
`perf script -F comm,pid,tid,cpu,time,period,event,ip,sym,dso` print it: N samples of
several processes and their threads (a C++ server, a JVM with JIT frames, node with V8
worker threads, postgres, python, kernel threads, the idle task), each sample 10 to 40
frames, leaf first: user frames in a few libraries (C++ names with arguments, templates,
anonymous namespaces), some without a symbol, and kernel frames under syscalls, page
faults and interrupts. A thread's next sample often keeps the outer frames of its last one
(it is still working on the same request), as in recordings of real programs. The same
seed gives the same file.

usage: gen-perf-script.py OUT [--samples 100000] [--seed 1]
"""
import argparse
import random
import zlib

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--samples", type=int, default=100_000)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

rng = random.Random(args.seed)

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"
LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
LIBCRYPTO = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"
LIBZ = "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"
LIBJVM = "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"
LIBPYTHON = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
KERNEL = "[kernel.kallsyms]"

NAMESPACES = ["app", "net", "db", "io", "core", "util", "http", "json", "cache", "rpc"]
CLASSES = ["Server", "Request", "Parser", "Buffer", "Session", "Pool", "Index", "Writer", "EventLoop", "Codec"]
VERBS = ["handle", "read", "write", "parse", "flush", "lookup", "insert", "encode", "decode", "dispatch",
         "process", "schedule", "resize", "serialize", "validate"]
ARGUMENTS = ["()", "(int)", "(char const*, unsigned long)", "(std::__cxx11::basic_string<char, std::char_traits<char>, "
             "std::allocator<char> > const&)", "(app::Request const&, app::Response&)", "() const",
             "(std::vector<unsigned char, std::allocator<unsigned char> >&)", "(unsigned long, bool)"]


def cxx_name(key):
    ns, cls, verb = NAMESPACES[key % 10], CLASSES[(key // 10) % 10], VERBS[(key // 100) % 15]
    args_ = ARGUMENTS[(key // 7) % len(ARGUMENTS)]
    kind = key % 17
    if kind == 0:
        return f"{ns}::(anonymous namespace)::{verb}{cls}{args_}"
    if kind == 1:
        return f"std::vector<{ns}::{cls}, std::allocator<{ns}::{cls}> >::_M_realloc_insert<{ns}::{cls} const&>" \
               f"(__gnu_cxx::__normal_iterator<{ns}::{cls}*, std::vector<{ns}::{cls}> >, {ns}::{cls} const&)"
    if kind == 2:
        return f"{ns}::{cls}::{verb}{args_}::{{lambda()#{key % 3 + 1}}}::operator()() const"
    if kind == 3:
        return f"void {ns}::{cls}::{verb}<{ns}::{CLASSES[key % 10]}>({ns}::{CLASSES[key % 10]}&&)"
    return f"{ns}::{cls}::{verb}{key % 50}{args_}"


def java_name(key):
    pkg = ["com/example/service", "com/example/store", "org/apache/kafka/clients", "io/netty/channel",
           "java/util/concurrent", "java/lang"][key % 6]
    cls = CLASSES[(key // 6) % 10]
    sig = ["()V", "(Ljava/lang/String;)V", "(I)Ljava/lang/Object;", "(Ljava/nio/ByteBuffer;I)I"][(key // 60) % 4]
    return f"L{pkg}/{cls};.{VERBS[(key // 7) % 15]}{sig}"


def node_name(key):
    kind = ["LazyCompile:*", "LazyCompile:~", "Builtin:", "Function:^"][key % 4]
    return f"{kind}{VERBS[(key // 4) % 15]}{CLASSES[(key // 60) % 10]} /srv/app/lib/{NAMESPACES[key % 10]}.js:{key % 400 + 1}"


def c_name(key, prefix):
    return f"{prefix}{VERBS[key % 15]}_{NAMESPACES[(key // 15) % 10]}{key % 23}"


class Program:
    """A process's code: a call graph of (name, module) functions under fixed roots, grown
    as samples walk down it: each function calls a few others, the first ones most, and a
    sixth of them call none (where samples mostly end)."""

    def __init__(self, binary, roots, thread_roots, frame_kinds, functions):
        self.binary = binary
        self.roots = roots
        self.thread_roots = thread_roots
        self.frame_kinds = frame_kinds  # (weight, maker of a (name, module) from a key)
        self.functions = functions  # the size of the pool of functions
        self.callees = {}
        self.next_key = rng.randrange(1 << 20)

    def callee(self, frame):
        kids = self.callees.setdefault(frame, [])
        if not kids or (len(kids) < 8 and rng.random() < 0.05):
            self.next_key += rng.randrange(1, 97)
            total = sum(weight for weight, _ in self.frame_kinds)
            pick = rng.random() * total
            for weight, make in self.frame_kinds:
                pick -= weight
                if pick <= 0:
                    break
            kids.append(make(self.next_key % self.functions))
        return kids[min(int(rng.expovariate(2.0)), len(kids) - 1)]

    @staticmethod
    def is_leaf(frame):
        return zlib.crc32(frame[0].encode()) % 6 == 0


def address_of(frame):
    """The frame's function's address, fixed for the frame."""
    name, module = frame
    seed = zlib.crc32(f"{name}\0{module}".encode())
    if module == KERNEL:
        base = 0xFFFFFFFF81000000 + (seed % 0x1000000) * 16
    elif module.startswith("/tmp/perf-"):
        base = 0x7F3A40000000 + (seed % 0x1000000) * 16
    elif module.startswith("/usr/lib"):
        base = 0x7F3A50000000 + (seed % 0x1000000) * 16
    else:
        base = 0x55D4C0000000 + (seed % 0x100000) * 16
    return base


KERNEL_PATHS = [
    ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_read", "ksys_read", "vfs_read",
     "sock_read_iter", "sock_recvmsg", "tcp_recvmsg", "tcp_recvmsg_locked", "skb_copy_datagram_iter",
     "__skb_datagram_iter", "_copy_to_iter", "copy_user_enhanced_fast_string"],
    ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_sendto", "__sys_sendto", "sock_sendmsg",
     "tcp_sendmsg", "tcp_sendmsg_locked", "tcp_push", "__tcp_push_pending_frames", "tcp_write_xmit",
     "__tcp_transmit_skb", "ip_queue_xmit", "__ip_queue_xmit", "ip_output", "nf_hook_slow"],
    ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_futex", "do_futex", "futex_wait",
     "futex_wait_queue", "schedule", "__schedule", "finish_task_switch.isra.0"],
    ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_epoll_wait", "do_epoll_wait",
     "ep_poll", "schedule_hrtimeout_range_clock", "schedule", "__schedule"],
    ["asm_exc_page_fault", "exc_page_fault", "do_user_addr_fault", "handle_mm_fault", "__handle_mm_fault",
     "do_anonymous_page", "alloc_pages_mpol", "__alloc_pages", "get_page_from_freelist", "clear_page_erms"],
    ["asm_sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt", "__sysvec_apic_timer_interrupt",
     "hrtimer_interrupt", "__hrtimer_run_queues", "tick_sched_timer", "update_process_times",
     "scheduler_tick", "task_tick_fair"],
    ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_write", "ksys_write", "vfs_write",
     "ext4_buffered_write_iter", "generic_perform_write", "ext4_da_write_begin", "__filemap_get_folio"],
]
NETFILTER = [("nf_conntrack_in", "[nf_conntrack]"), ("ipv4_conntrack_local", "[nf_conntrack]"),
             ("nf_nat_ipv4_out", "[nf_nat]")]
IDLE = ["common_startup_64", "x86_64_start_kernel", "start_kernel", "rest_init", "cpu_startup_entry",
        "do_idle", "cpuidle_idle_call", "default_idle_call", "arch_cpu_idle", "default_idle", "pv_native_safe_halt"]
KTHREAD = ["ret_from_fork_asm", "ret_from_fork", "kthread", "worker_thread", "process_one_work"]
KWORK = ["vmstat_update", "refresh_cpu_vm_stats", "flush_to_ldisc", "drm_fb_helper_damage_work",
         "e1000_watchdog", "blk_mq_run_work_fn", "__blk_mq_run_hw_queue"]


def cxx_program(binary, extra_libraries, functions):
    kinds = [(6, lambda k: (cxx_name(k), binary)), (2, lambda k: (cxx_name(k + 7), LIBSTDCXX)),
             (1, lambda k: (c_name(k, "__"), LIBC))]
    kinds += [(1, (lambda lib: lambda k: (c_name(k, "lib_"), lib))(lib)) for lib in extra_libraries]
    return Program(binary, [("_start", binary), ("__libc_start_main_impl", LIBC), ("__libc_start_call_main", LIBC),
                            ("main", binary)],
                   [("clone3", LIBC), ("start_thread", LIBC), ("app::Worker::run()", binary)], kinds, functions)


def java_program(pid):
    jit = f"/tmp/perf-{pid}.map"
    kinds = [(6, lambda k: (java_name(k), jit)), (1, lambda k: ("Interpreter", jit)),
             (2, lambda k: (cxx_name(k).replace("app::", "JVM::"), LIBJVM)), (1, lambda k: (c_name(k, "__"), LIBC))]
    roots = [("clone3", LIBC), ("start_thread", LIBC), ("thread_native_entry(Thread*)", LIBJVM),
             ("Thread::call_run()", LIBJVM), ("JavaThread::thread_main_inner()", LIBJVM),
             ("JavaCalls::call_helper(JavaValue*, methodHandle const&, JavaCallArguments*, JavaThread*)", LIBJVM),
             ("call_stub", "[unknown]")]
    return Program("/usr/bin/java", roots, roots, kinds, 4000)


def node_program(pid):
    jit = f"/tmp/perf-{pid}.map"
    kinds = [(5, lambda k: (node_name(k), jit)), (3, lambda k: (cxx_name(k).replace("app::", "v8::internal::"), "/usr/bin/node")),
             (1, lambda k: (c_name(k, "uv_"), "/usr/bin/node")), (1, lambda k: (c_name(k, "__"), LIBC))]
    return Program("/usr/bin/node", [("_start", "/usr/bin/node"), ("__libc_start_main_impl", LIBC),
                                     ("__libc_start_call_main", LIBC), ("node::Start(int, char**)", "/usr/bin/node")],
                   [("clone3", LIBC), ("start_thread", LIBC), ("v8::platform::WorkerThread::Run()", "/usr/bin/node")], kinds,
                   3000)


def python_program():
    kinds = [(6, lambda k: ("_PyEval_EvalFrameDefault" if k % 3 else c_name(k, "_Py"), LIBPYTHON)),
             (1, lambda k: ("[unknown]", LIBPYTHON)), (1, lambda k: (c_name(k, "__"), LIBC)),
             (1, lambda k: (c_name(k, "inflate_"), LIBZ))]
    binary = "/usr/bin/python3.11"
    return Program(binary, [("_start", binary), ("__libc_start_main_impl", LIBC), ("__libc_start_call_main", LIBC),
                            ("Py_BytesMain", LIBPYTHON), ("Py_RunMain", LIBPYTHON)], [], kinds, 600)


server = cxx_program("/opt/app/bin/server", [LIBSSL, LIBCRYPTO, LIBZ], 6000)
postgres = cxx_program("/usr/lib/postgresql/15/bin/postgres", [LIBCRYPTO], 3000)
# (comm, pid, tids, program, weight); a tid that is the pid runs the program's main roots.
processes = [
    ("server", 2210, [2210] + list(range(2214, 2222)), server, 30),
    ("java", 3301, [3302, 3315, 3316, 3317, 3318], java_program(3301), 14),
    ("C2 CompilerThre", 3301, [3309, 3310], java_program(3301), 4),
    ("node", 4410, [4410], node_program(4410), 10),
    ("V8 WorkerThread", 4410, [4413, 4414, 4415], node_program(4410), 5),
    ("postgres", 5120, [5120], postgres, 6),
    ("postgres", 5133, [5133], postgres, 6),
    ("python3.11", 6042, [6042], python_program(), 8),
    ("kworker/1:2", 187, [187], None, 2),
    ("kworker/u4:0-events_unbound", 9, [9], None, 1),
    ("swapper", 0, [0], None, 14),
]
weights = [p[4] for p in processes]


def kernel_tail():
    path = rng.choice(KERNEL_PATHS)
    cut = rng.randrange(3, len(path) + 1)
    frames = [(name, KERNEL) for name in path[:cut]]
    if path[-1] == "nf_hook_slow" and cut == len(path):
        frames.append(rng.choice(NETFILTER))
    return frames


last_path = {}  # (comm, tid) -> the user frames of its last sample


def sample_frames(comm, pid, tid, program):
    """The frames of one sample, root first."""
    if program is None:
        if comm == "swapper":
            return [(name, KERNEL) for name in IDLE]
        frames = [(name, KERNEL) for name in KTHREAD] + [(rng.choice(KWORK), KERNEL)]
        path = rng.choice(KERNEL_PATHS)
        return frames + [(name, KERNEL) for name in path[:rng.randrange(4, len(path) + 1)]]
    main_thread = tid == pid and comm != "V8 WorkerThread"
    roots = program.roots if main_thread or not program.thread_roots else program.thread_roots
    frames = list(roots)
    last = last_path.get((comm, tid))
    if last and rng.random() < 0.8:
        frames = list(last[:rng.randrange(max(len(roots), len(last) // 2), len(last))])
    # Down to a leaf function, 12 to 36 frames deep.
    depth = rng.randrange(12, 36)
    while len(frames) < depth and (len(frames) < 12 or not Program.is_leaf(frames[-1])):
        frames.append(program.callee(frames[-1]))
    last_path[(comm, tid)] = tuple(frames)
    if rng.random() < 0.35:
        frames += kernel_tail()
    if rng.random() < 0.03:
        frames.insert(0, ("[unknown]", "[unknown]"))
    return frames[:40]


def frame_line(frame, callee):
    """A frame as perf prints it: a caller at the return address of its call of the callee
    (fixed per call), the leaf (callee None) at one of a few hot instructions."""
    name, module = frame
    base = address_of(frame)
    if callee is None:
        offset = 4 + zlib.crc32(f"{name}\0{module}".encode()) % 0x300 + 4 * rng.randrange(8)
    else:
        offset = 4 + zlib.crc32(f"{name}\0{module}\0{callee[0]}".encode()) % 0x400
    if name == "[unknown]":
        return f"\t{base + offset:16x} [unknown] ({module})\n"
    return f"\t{base + offset:16x} {name}+0x{offset:x} ({module})\n"


with open(args.out, "w") as out:
    time = 81234.000000
    cpus = 4
    lines = []
    for index in range(args.samples):
        comm, pid, tids, program, _ = rng.choices(processes, weights)[0]
        tid = rng.choice(tids)
        time += rng.expovariate(1 / 0.0025)
        cpu = rng.randrange(cpus)
        lines.append(f"{comm} {pid:>6}/{tid:<6} [{cpu:03d}] {time:12.6f}: {10101010:>10} cpu-clock:pppH: \n")
        frames = sample_frames(comm, pid, tid, program)
        for depth in range(len(frames) - 1, -1, -1):
            lines.append(frame_line(frames[depth], frames[depth + 1] if depth + 1 < len(frames) else None))
        lines.append("\n")
        if len(lines) > 50_000:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))
