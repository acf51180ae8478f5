/*
 * The layout shared by the BPF program (Sources/EmberSampling/BPF/profile.bpf.c)
 * and the Swift side that reads its maps. Keep it plain C with fixed-width types.
 */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#include <linux/types.h>

#define EMBER_TASK_COMM_LEN 16
/* The kernel's default kernel.perf_event_max_stack. */
#define EMBER_MAX_STACK_DEPTH 127
/* The most user stack a DWARF sample copies. */
#define EMBER_MAX_STACK_COPY 65536
/* The most branch records an LBR sample carries: the deepest LBR of current CPUs
 * (Intel's architectural LBR has up to 32 entries). */
#define EMBER_MAX_BRANCH_RECORDS 32
/* The size of one struct perf_branch_entry (from, to, flags). */
#define EMBER_BRANCH_RECORD_SIZE 24

/* How the program takes user stacks. */
enum ember_unwind {
	EMBER_UNWIND_FP = 0,     /* bpf_get_stackid (frame pointers), counted in the kernel */
	EMBER_UNWIND_DWARF = 1,  /* registers + a copy of the stack to the ring buffer */
	EMBER_UNWIND_AUTO = 2,   /* DWARF for the processes in dwarf_processes, FP otherwise */
	EMBER_UNWIND_LBR = 3,    /* the CPU's Last Branch Record call stack to the ring buffer */
};

/* The targets map's values (with config.filter_by_pid). */
enum ember_target {
	EMBER_TARGET = 1,           /* sampled, every thread, and followed into its children */
	EMBER_TARGET_FROM_EXEC = 2, /* a command ember launched: sampled from its exec on (before
	                             * it, the task is ember's own child, waiting to exec) */
};

/* In-kernel CFI unwinding (with EMBER_UNWIND_AUTO): each file's .eh_frame / .debug_frame
 * compiled by user space to rows, sorted by pc, each rule holding up to the next row's pc. */
enum ember_unwind_rule {
	EMBER_RULE_NONE = 0,          /* no CFI here (between FDEs): unwound in user space */
	EMBER_RULE_CFA_SP = 1,        /* CFA = rsp + cfa_offset */
	EMBER_RULE_CFA_BP = 2,        /* CFA = rbp + cfa_offset */
	EMBER_RULE_PLT = 3,           /* a .plt entry: CFA = rsp + cfa_offset, + 8 once (rip & 15)
	                               * >= plt_threshold (past the entry's push) */
	EMBER_RULE_SIGNAL = 4,        /* the kernel's rt_sigframe: registers in its ucontext */
	EMBER_RULE_OUTERMOST = 5,     /* the return address is undefined: the stack's root */
	EMBER_RULE_NEEDS_COPY = 6,    /* a rule the kernel's walk lacks: unwound in user space */
};

/* One row: the return address is always at CFA - 8 (x86-64's CIEs say so; other rules are
 * compiled to NEEDS_COPY). rbp_offset: 0 if rbp is unchanged, else rbp is saved at
 * CFA + rbp_offset. 16 bytes: array maps store values 8-byte aligned. */
struct ember_unwind_row {
	__u64 pc;               /* the file's virtual address */
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 rule;              /* enum ember_unwind_rule */
	__u8 plt_threshold;
};

/* Where a file's rows are in the rows map. */
struct ember_unwind_table {
	__u32 first_row;
	__u32 row_count;
};

/* How the kernel unwinds code in one executable mapping. */
enum ember_mapping_kind {
	EMBER_MAPPING_TABLE = 0,          /* by its file's table (`table`) */
	EMBER_MAPPING_FRAME_POINTER = 1,  /* by frame pointers (JIT code, files without CFI) */
	EMBER_MAPPING_PENDING = 2,        /* its table is not loaded yet: unwound in user space */
};

/* The most files with tables (entries of the tables map). */
#define EMBER_MAX_UNWIND_TABLES 4096

/* The most executable mappings a process's entry holds; a process with more is unwound in
 * user space. */
#define EMBER_MAX_MAPPINGS 250

struct ember_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;             /* the file's virtual address = pc - bias */
	__u32 table;            /* index in the tables map (kind TABLE) */
	__u32 kind;             /* enum ember_mapping_kind */
};

/* A process's executable mappings, sorted by start. */
struct ember_process_mappings {
	__u32 count;
	__u32 reread_asked;     /* the BPF program asked user space to read the maps again */
	/* Unique to each set of mappings user space writes (a forked child's copy keeps its
	 * parent's: the same address space); the walk's rule cache is keyed by it. 0: none. */
	__u64 generation;
	struct ember_mapping mappings[EMBER_MAX_MAPPINGS];
};

/* How an in-kernel walk ended. */
enum ember_stack_end {
	EMBER_END_COMPLETE = 0,   /* at the outermost frame (or a zero return address) */
	EMBER_END_TRUNCATED = 1,  /* at the depth limit */
	EMBER_END_UNKNOWN = 2,    /* a return address or frame could not be read */
};

/* A user stack walked in the kernel, in the CFI stacks map by its hash. */
/* A walked stack's pcs are return addresses past the first (their call is at pc - 1),
 * except a signal's trampoline and the frame the signal interrupted, whose pcs are exact:
 * those carry this mark, a bit no x86-64 user address has. */
#define EMBER_EXACT_PC 0x8000000000000000ULL

struct ember_user_stack {
	__u32 depth;
	__u32 end;              /* enum ember_stack_end */
	__u64 pcs[EMBER_MAX_STACK_DEPTH]; /* innermost first; EMBER_EXACT_PC marks exact ones */
};

/* One key of the counts map: who was running and where (stack ids or a negative errno). */
struct ember_sample_key {
	__u32 pid;              /* thread group id (the process) */
	__u32 tid;              /* thread id */
	__s32 user_stack_id;    /* id in the stacks map, or -errno */
	__s32 kernel_stack_id;  /* id in the stacks map, or -errno; -EFAULT: no kernel stack */
	/* The two words at the user stack pointer, each kept only if it could be a user
	 * address (else 0): the return address a frame-pointer walk misses when the sampled
	 * function has not set up its frame yet. */
	__u64 stack_words[2];
	char comm[EMBER_TASK_COMM_LEN];
	/* Nonzero: the user stack was walked in the kernel by CFI and is in the CFI stacks
	 * map under this hash (user_stack_id is then -ENOENT). */
	__u64 user_stack_hash;
	/* Nonzero: the thread was running Python, whose frames are in the Python stacks map
	 * under this hash. */
	__u64 python_stack_hash;
};

/* What a ring-buffer sample carries after its header. */
enum ember_sample_kind {
	/* DWARF mode: stack_size bytes of user stack from sp up, for a CFI unwinder. */
	EMBER_SAMPLE_STACK_COPY = 0,
	/* Frame-pointer mode, when the sample could not be counted in the kernel (its stack's
	 * bucket in the stack map was taken, or the counts map was full): stack_size bytes of
	 * user return addresses as the kernel walked them. Nothing is lost to a full map.
	 * A CFI walk that could not be counted sends its pcs this way too, with `truncated`
	 * holding its enum ember_stack_end + 1. */
	EMBER_SAMPLE_ADDRESSES = 1,
	/* LBR mode: stack_size bytes of struct perf_branch_entry, most recent call first. */
	EMBER_SAMPLE_BRANCH_RECORDS = 2,
	/* Not samples: a target forked process `pid`, or process `pid` exec'd a new program. The header alone, sent at once so that user space reads
	 * a short-lived process's memory map while it lives. */
	EMBER_PROCESS_FORKED = 3,
	EMBER_PROCESS_EXECUTED = 4,
	/* Not a sample: a Python stack new to the Python stacks map (python_stack_hash), for
	 * user space to name its code objects while the process lives. */
	EMBER_PYTHON_STACK_NEW = 5,
	/* Not a sample: a CFI walk met a pc in none of process `pid`'s mappings, most likely a
	 * library mapped since user space last read them (the loader maps libc moments after
	 * exec). Sent at once, once per mappings written: a short-lived process is read again
	 * while it lives. */
	EMBER_PROCESS_UNMAPPED_CODE = 22,
};

/* A sample sent through the ring buffer. After the header: stack_size bytes (see kind),
 * then kernel_size bytes of kernel addresses, innermost first. */
struct ember_stack_sample {
	__u32 pid;
	__u32 tid;
	__u32 kind;             /* enum ember_sample_kind */
	__u32 stack_size;
	__u32 kernel_size;
	__u32 truncated;        /* STACK_COPY: 1 if the stack continues past the copy; ADDRESSES:
	                         * 0, or a CFI walk's enum ember_stack_end + 1 */
	__u32 cpu;              /* the CPU the sample was taken on */
	__s32 kernel_stack_id;  /* BLOCK_COPY, BLOCK_ADDRESSES: the kernel stack's id in the stacks
	                         * map, or -errno (-EFAULT: none); 0 for other kinds */
	__u64 time;             /* bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds */
	__u64 ip;               /* user registers (STACK_COPY, BRANCH_RECORDS) */
	__u64 sp;
	__u64 bp;
	__u64 stack_words[2];   /* ADDRESSES: as in struct ember_sample_key */
	__u64 python_stack_hash; /* as in struct ember_sample_key; EMBER_PYTHON_STACK_NEW: the new stack's */
	char comm[EMBER_TASK_COMM_LEN];
	__u8 stack[];
};

/* A ring-buffer record of kind EMBER_SAMPLE_COUNTED_TIME: a sample counted in the kernel,
 * when config.sample_times is set. Its ember_stack_sample header has the time, CPU, pid and
 * tid; its stack holds the struct ember_sample_key it was counted under, by which user space
 * gives the key's samples their times. */
#define EMBER_SAMPLE_COUNTED_TIME 17

/* The single entry of the config map, written before the events are enabled. */
struct ember_config {
	__u32 filter_by_pid;    /* 0: every task on the system */
	__u32 kernel_stacks;    /* 0: skip bpf_get_stackid for kernel stacks */
	__u32 follow_forks;     /* 1: children of a target become targets */
	__u32 unwind;           /* enum ember_unwind */
	__u32 stack_copy_size;  /* DWARF: bytes of user stack to copy (<= EMBER_MAX_STACK_COPY) */
	__u32 stack_words;      /* FP: record stack_words in the key */
	__u32 ignored_tgid;     /* a process never sampled (ember itself, system-wide); 0: none */
	__u32 sample_times;     /* 1: each sample counted in the kernel also sends its time
	                         * (EMBER_SAMPLE_COUNTED_TIME), for outputs that show time */
	__u32 python_frames;    /* 1: walk the Python frames of the processes in python_processes */
};

/* Indices of the per-CPU counters map. Every sample that is not in the counts map is here. */
enum ember_counter {
	EMBER_SAMPLES = 0,             /* samples of target tasks seen by the program */
	EMBER_USER_STACK_COLLISION,    /* -EEXIST: the stack's bucket held another stack
	                                * (the sample then goes whole through the ring buffer) */
	EMBER_KERNEL_STACK_COLLISION,
	EMBER_USER_STACK_ERROR,        /* any other error from bpf_get_stackid */
	EMBER_KERNEL_STACK_ERROR,
	EMBER_COUNTS_MAP_FULL,         /* no room in the counts map (sent whole instead) */
	EMBER_TARGETS_MAP_FULL,        /* a forked child could not be followed */
	EMBER_RING_BUFFER_FULL,        /* a ring-buffer sample could not be sent: lost */
	EMBER_STACK_COPY_ERROR,        /* a DWARF sample's stack could not be read */
	EMBER_DWARF_SAMPLES,           /* stack copies sent to the ring buffer */
	EMBER_OVERFLOW_SAMPLES,        /* frame-pointer samples sent whole instead of counted */
	EMBER_BRANCH_RECORD_ERROR,     /* an LBR sample's branch records could not be read */
	EMBER_BRANCH_SAMPLES,          /* LBR samples sent to the ring buffer */
	EMBER_PROCESS_EVENTS_LOST,     /* fork/exec events the full ring buffer refused (user
	                                * space still finds those processes, only later) */
	EMBER_CFI_SAMPLES,             /* user stacks walked in the kernel by CFI */
	EMBER_CFI_PENDING,             /* ... sent as stack copies instead: a table not loaded yet,
	                                * or a pc in no known mapping */
	EMBER_CFI_NEEDS_COPY,          /* ... sent as stack copies instead: a rule the walk lacks */
	EMBER_CFI_STACKS_FULL,         /* CFI stacks not counted (map full or hash taken by another
	                                * stack): sent whole through the ring buffer */
	EMBER_SAMPLE_TIMES_LOST,       /* counted samples whose time the full ring buffer refused
	                                * (counted still, but in no range of the time view) */
	EMBER_PYTHON_SAMPLES,          /* samples of Python processes with their Python frames */
	EMBER_PYTHON_NO_THREAD,        /* ... whose thread has no Python thread state (a native thread) */
	EMBER_PYTHON_READ_ERROR,       /* ... whose frame chain could not be read (walk cut there) */
	EMBER_PYTHON_TRUNCATED,        /* ... whose frame chain was deeper than the walk (cut) */
	EMBER_PYTHON_STACKS_FULL,      /* Python stacks not kept (map full): the sample keeps its
	                                * native stack only */
	EMBER_PYTHON_NEWS_LOST,        /* new Python stacks the full ring buffer did not announce
	                                * (named at the end instead, if the process still lives) */
	EMBER_COUNTER_COUNT,
};

/* ---------------------------------------------------------------------------------------
 * Off-CPU time (Sources/EmberSampling/BPF/offcpu.bpf.c): the program on sched_switch notes
 * when a target thread is switched out, with its stacks, and adds the time to the counts at
 * switch-in. It shares the CPU program's config, targets, stacks and ring buffer maps, and
 * with --unwind auto its CFI maps (the blocked thread's stack walked by CFI at switch-out).
 * ------------------------------------------------------------------------------------- */

/* The task that woke a blocked thread (sched_waking), and its stacks. */
struct ember_offcpu_waker {
	__u32 pid;
	__u32 tid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[EMBER_TASK_COMM_LEN];
	__u64 user_stack_hash;  /* as in struct ember_sample_key: a stack walked by CFI */
};

/* A key of the offcpu_counts map: the blocked thread's key, and (with wakeups) its waker. */
struct ember_offcpu_key {
	struct ember_sample_key blocked;
	struct ember_offcpu_waker waker;
};

/* Where a switched-out thread blocked, and since when (the blocked map: tid → this; a
 * thread's entry stays until it exits). */
struct ember_offcpu_start {
	struct ember_sample_key key;
	__u64 time;             /* bpf_ktime_get_ns() at switch-out; 0: running now */
	__u32 state;            /* enum ember_offcpu_state */
	__u32 dropped;          /* 1: its state is filtered out (only its time is counted) */
	struct ember_offcpu_waker waker; /* with wakeups: who woke it (tid 0: not known) */
	__u32 stack_sent;       /* 1: its user stack went through the ring buffer at switch-out
	                         * (EMBER_SAMPLE_BLOCK_COPY or _ADDRESSES): its end follows there */
	__u32 unused;
};

/* The stack ids in the `blocked` entry user space writes for a thread it finds blocked when
 * recording begins, whose stack it never saw. */
#define EMBER_BLOCKED_BEFORE_RECORDING (-3) /* -ESRCH */

/* The state a thread was switched out in, as a bit of ember_offcpu_config.states. */
enum ember_offcpu_state {
	EMBER_OFFCPU_RUNNABLE = 1,        /* preempted (R): waiting for a CPU */
	EMBER_OFFCPU_INTERRUPTIBLE = 2,   /* S: a sleep, a wait on a file, a futex */
	EMBER_OFFCPU_UNINTERRUPTIBLE = 4, /* D: disk I/O, some kernel locks */
	EMBER_OFFCPU_OTHER = 8,           /* stopped, traced, parked */
};

/* Time and number of blocks of one key of the offcpu_counts map. */
struct ember_offcpu_value {
	__u64 nanoseconds;
	__u64 blocks;
};

/* The single entry of the offcpu_config map. */
struct ember_offcpu_config {
	__u64 min_block_ns;     /* shorter blocks are counted as dropped, not kept */
	__u32 states;           /* bits of enum ember_offcpu_state to keep */
	__u32 wakeups;          /* 1: note each block's waker */
};

/* A ring-buffer record of kind EMBER_SAMPLE_OFF_CPU_TIME: a block the counts map had no
 * room for. Its ember_stack_sample header's stack holds this payload. */
#define EMBER_SAMPLE_OFF_CPU_TIME 16
struct ember_offcpu_payload {
	__u64 nanoseconds;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 state;
	__u32 unused;
	__u64 user_stack_hash;  /* as in struct ember_sample_key: a stack walked by CFI */
	struct ember_offcpu_waker waker;
};

/* A ring-buffer record of kind EMBER_SAMPLE_BLOCK_TIME, when config.sample_times is set:
 * one block counted in the offcpu_counts map under `key`, from the header's time for
 * `nanoseconds` (an interval of the time view). */
#define EMBER_SAMPLE_BLOCK_TIME 18
struct ember_block_time {
	struct ember_offcpu_key key;
	__u64 nanoseconds;
};

/* With --unwind dwarf, and for a CFI walk cfi_stacks has no room for: a blocked thread's user
 * stack goes through the ring buffer at its switch-out, as a CPU sample's would, and its
 * block's length at its switch-in; user space joins the two by tid and start time (each
 * record's header `time`: one block of a thread at a time, so they are unique and in order).
 * BLOCK_COPY is laid out as STACK_COPY, BLOCK_ADDRESSES as a CFI walk's ADDRESSES (truncated:
 * its end + 1); both carry the kernel stack's id in the header. A block whose stack or end the
 * full ring buffer refused is counted in offcpu_counts under user_stack_id -ENOSPC. */
#define EMBER_SAMPLE_BLOCK_COPY 19
#define EMBER_SAMPLE_BLOCK_ADDRESSES 20
#define EMBER_SAMPLE_BLOCK_END 21
struct ember_block_end {
	__u64 nanoseconds;
	__u32 state;            /* enum ember_offcpu_state */
	__u32 kept;             /* 0: shorter than min_block_ns (counted as dropped in the counters) */
	struct ember_offcpu_waker waker;
};

/* Indices of the per-CPU offcpu_counters map. */
enum ember_offcpu_counter {
	EMBER_OFFCPU_SWITCHES = 0,        /* switch-outs of target threads noted */
	EMBER_OFFCPU_BLOCKS,              /* switch-ins whose time was counted */
	EMBER_OFFCPU_NANOSECONDS,         /* the time counted (kept or dropped by a filter) */
	EMBER_OFFCPU_BLOCKED_MAP_FULL,    /* switch-outs not noted (their block is lost) */
	EMBER_OFFCPU_COUNTS_MAP_FULL,     /* blocks sent through the ring buffer instead */
	EMBER_OFFCPU_RING_BUFFER_FULL,    /* blocks lost with a full ring buffer... */
	EMBER_OFFCPU_RING_BUFFER_FULL_NS, /* ...and their time */
	EMBER_OFFCPU_USER_STACK_COLLISION,
	EMBER_OFFCPU_KERNEL_STACK_COLLISION,
	EMBER_OFFCPU_USER_STACK_ERROR,
	EMBER_OFFCPU_KERNEL_STACK_ERROR,
	EMBER_OFFCPU_SHORT_BLOCKS,        /* blocks under min_block_ns... */
	EMBER_OFFCPU_SHORT_NS,            /* ...and their time */
	EMBER_OFFCPU_STATE_BLOCKS,        /* blocks in a state filtered out... */
	EMBER_OFFCPU_STATE_NS,            /* ...and their time */
	EMBER_OFFCPU_TIMES_LOST,          /* counted blocks whose interval the full ring buffer
	                                   * refused (counted still, in no range of the time view) */
	EMBER_OFFCPU_CFI_STACKS,          /* switch-outs (and wakers) whose user stack was walked by CFI */
	EMBER_OFFCPU_CFI_PENDING,         /* ... taken by frame pointers instead: a table not loaded
	                                   * yet, or a pc in no known mapping */
	EMBER_OFFCPU_CFI_NEEDS_COPY,      /* ... instead: a rule the walk lacks */
	EMBER_OFFCPU_CFI_STACKS_FULL,     /* ... instead (a waker's): the CFI stacks map full, or the hash
	                                   * taken; a blocked thread's walk goes through the ring buffer */
	EMBER_OFFCPU_BLOCK_COPIES,        /* blocked stacks copied through the ring buffer (dwarf) */
	EMBER_OFFCPU_BLOCK_ADDRESSES,     /* walked blocked stacks cfi_stacks had no room for, sent
	                                   * through the ring buffer instead */
	EMBER_OFFCPU_COPY_ERRORS,         /* copies whose user stack could not be read */
	EMBER_OFFCPU_STACKS_LOST,         /* blocked stacks the full ring buffer refused (their time is
	                                   * counted, under a lost user stack) */
	EMBER_OFFCPU_ENDS_LOST,           /* ends of such blocks the full ring buffer refused... */
	EMBER_OFFCPU_ENDS_LOST_NS,        /* ...and their time (counted, under a lost user stack) */
	EMBER_OFFCPU_SWITCH_INS_MISSED,   /* switch-outs whose thread's previous block was still open:
	                                   * its switch-in was not seen, its time is lost */
	/* Python frames at switch-out, named as the CPU program's EMBER_PYTHON_* counters are
	 * (ember_python.bpf.h counts both): */
	EMBER_OFFCPU_PYTHON_SAMPLES,      /* switch-outs of threads running Python, with its frames */
	EMBER_OFFCPU_PYTHON_NO_THREAD,    /* switch-outs of a Python process's threads running none */
	EMBER_OFFCPU_PYTHON_READ_ERROR,   /* frames cut at one that could not be read */
	EMBER_OFFCPU_PYTHON_TRUNCATED,    /* frames deeper than the walk goes */
	EMBER_OFFCPU_PYTHON_STACKS_FULL,  /* switch-outs whose Python frames found no room (native only) */
	EMBER_OFFCPU_PYTHON_NEWS_LOST,    /* new Python stacks not announced (ring buffer full) */
	EMBER_OFFCPU_COUNTER_COUNT,
};


/* ---------------------------------------------------------------------------------------
 * Python frames (CPython 3.8+): for a process in the python_processes map, the sampled
 * thread's interpreter frames are walked in the kernel and kept by hash in python_stacks.
 * ------------------------------------------------------------------------------------- */

/* The deepest Python stack kept; deeper ones are cut (counted). */
#define EMBER_MAX_PYTHON_DEPTH 96
/* The most thread states searched for the sampled thread. */
#define EMBER_MAX_PYTHON_THREADS 256
/* No such field in this version. */
#define EMBER_PYTHON_NO_FIELD 0xffffffffu
/* Set in a frame's `instruction`: the frame is the first (outermost) that its activation
 * of _PyEval_EvalFrameDefault ran (instructions are 2-byte code units: bit 0 is free). */
#define EMBER_PYTHON_ENTRY_FRAME 1ULL
/* The owner of a frame pushed on the C stack by _PyEval_EvalFrameDefault (3.12+): a shim
 * marking the activation's boundary, not Python code. */
#define EMBER_PYTHON_FRAME_OWNED_BY_CSTACK 3

/* ember_python_process.flags. Before 3.11 the frame chain is PyFrameObjects, each run by
 * its own activation of _PyEval_EvalFrameDefault: every frame is an entry frame, and the
 * instruction is the int f_lasti, kept shifted left by one (bit 0 is the entry mark). */
#define EMBER_PYTHON_FRAME_OBJECTS 1u

/* Where an interpreter's structures keep what the walk reads (byte offsets), and the
 * runtime's address; written by user space from its per-version tables. */
struct ember_python_process {
	__u64 runtime;                  /* the address of _PyRuntime */
	__u32 interpreters_head;        /* _PyRuntimeState.interpreters.head */
	__u32 interpreter_next;         /* PyInterpreterState.next */
	__u32 threads_head;             /* PyInterpreterState.threads.head */
	__u32 thread_next;              /* PyThreadState.next */
	__u32 thread_id;                /* PyThreadState.thread_id: pthread_self(), the fs base */
	__u32 thread_frame;             /* PyThreadState.cframe (3.11, 3.12) or .current_frame */
	__u32 cframe_current_frame;     /* _PyCFrame.current_frame, or EMBER_PYTHON_NO_FIELD (3.13) */
	__u32 frame_code;               /* _PyInterpreterFrame.f_code / f_executable */
	__u32 frame_previous;
	__u32 frame_instruction;        /* .prev_instr / .instr_ptr */
	__u32 frame_owner;              /* .owner, or EMBER_PYTHON_NO_FIELD (before 3.11) */
	__u32 frame_is_entry;           /* .is_entry (3.11), or EMBER_PYTHON_NO_FIELD */
	__u32 flags;                    /* EMBER_PYTHON_FRAME_OBJECTS */
};

struct ember_python_frame {
	__u64 code;                     /* the code object (f_executable in 3.13: perhaps not one) */
	__u64 instruction;              /* the instruction pointer, | EMBER_PYTHON_ENTRY_FRAME */
};

/* One thread's Python frames, innermost first (in the Python stacks map by hash). */
struct ember_python_stack {
	__u32 depth;
	__u32 end;                      /* enum ember_stack_end */
	struct ember_python_frame frames[EMBER_MAX_PYTHON_DEPTH];
};

/* Kernel addresses named by the kernel's own symbol lookup (kernel_names.bpf.c's `request`,
 * which user space reaches through the mapped .bss): user space fills `addresses` and
 * `count`, runs the program, and reads each name back ("function" or "function [module]";
 * "0x…" where no symbol holds the address). */
#define EMBER_KERNEL_NAME_BATCH 256
#define EMBER_KERNEL_NAME_SIZE 128
struct ember_kernel_names {
	__u64 addresses[EMBER_KERNEL_NAME_BATCH];
	__u32 count;
	__s32 lengths[EMBER_KERNEL_NAME_BATCH]; /* bpf_snprintf's: the length with its NUL, or -errno */
	char names[EMBER_KERNEL_NAME_BATCH][EMBER_KERNEL_NAME_SIZE];
};

#endif
