/*
 * Python frames, shared by profile.bpf.c (a CPU sample's) and offcpu.bpf.c (a blocked
 * thread's, at its switch-out). The maps are the CPU program's; offcpu.bpf.c reuses their
 * descriptors, except python_scratch, each program's own (one program can interrupt the
 * other on a CPU). Each program counts what happened in its own counters.
 *
 * For a process in python_processes, the sampled thread's interpreter frames: its thread
 * state is found by walking the interpreters' lists of thread states for the one whose
 * thread_id is the sampled thread's pthread_self() (every thread, holding the GIL or not,
 * and the same code for a static python and a libpython.so: a thread-local would need each
 * build's TLS layout), remembered per tid while the process has one interpreter and checked
 * again at each use. Its frame chain is then walked, recording each frame's code object and
 * instruction pointer; user space names them while the process lives
 * (EMBER_PYTHON_STACK_NEW tells it of each new stack). */

#ifndef EMBER_PYTHON_BPF_H
#define EMBER_PYTHON_BPF_H

#include "ember_profile.h"
#include "ember_maps.bpf.h"
#include "ember_cfi.bpf.h"

/* The including program counts what python_stack meets in its own counters:
 * EMBER_PYTHON_COUNT(event), event one of NO_THREAD (no thread state, or one running no
 * Python), READ_ERROR (a frame could not be read: the stack is cut there), TRUNCATED (deeper
 * than EMBER_MAX_PYTHON_DEPTH), STACKS_FULL (no room in python_stacks: native frames only),
 * NEWS_LOST (no room in the ring buffer to announce a new stack) and SAMPLES (a stack kept).
 * Counted where they happen, not handed back as flags: a value that differs by path would
 * have the verifier check the rest of the program once per combination. */
#ifndef EMBER_PYTHON_COUNT
#error "define EMBER_PYTHON_COUNT(event) before including ember_python.bpf.h"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct ember_python_process);
	__uint(max_entries, 1024);
} python_processes SEC(".maps");

/* A thread's PyThreadState as last found, kept only while its process has one interpreter
 * (interpreters: the list's head then, read again at each use, as is the state's thread_id).
 * With subinterpreters a thread may have a state in each interpreter it entered: it is
 * looked for at every sample. */
struct python_known_thread {
	__u64 thread;
	__u64 interpreters;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct python_known_thread);
	__uint(max_entries, 16384);
} python_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct ember_python_stack);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} python_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_python_stack);
	__uint(max_entries, 1);
} python_scratch SEC(".maps");

/* A thread state names its thread by pthread_self() (thread_id), on x86-64 glibc and musl
 * the thread's fs base, read from the task (CO-RE; the ___ suffix keeps these apart from
 * other declarations of the kernel's types); the C library sets it once, as the thread
 * starts. Not native_thread_id (3.11+): that is the tid in the process's own pid namespace,
 * which in a container is not the one the kernel gives here. */
struct thread_struct___ember_python {
	unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct___ember_python {
	struct thread_struct___ember_python thread;
} __attribute__((preserve_access_index));

static __always_inline __u64 python_thread_identity(void)
{
	struct task_struct___ember_python *task = (void *)bpf_get_current_task_btf();
	__u64 fsbase = 0;
	if (bpf_probe_read_kernel(&fsbase, sizeof(fsbase), &task->thread.fsbase) != 0)
		return 0;
	return fsbase;
}

/* The frame a thread state is running (0: none, it runs no Python), or -1 if unreadable. */
static __always_inline __u64 python_current_frame(struct ember_python_process *layout, __u64 thread)
{
	__u64 frame = 0;
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(thread + layout->thread_frame)) != 0)
		return (__u64)-1;
	if (layout->cframe_current_frame != EMBER_PYTHON_NO_FIELD && frame != 0 &&
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)(frame + layout->cframe_current_frame)) != 0)
		return (__u64)-1;
	return frame;
}

struct python_thread_search {
	struct ember_python_process *layout;
	__u64 interpreter; /* the interpreter whose list is searched */
	__u64 thread;      /* the thread state looked at; 0 at the list's end */
	__u64 identity;    /* the sampled thread's pthread_self() */
	__u64 idle;        /* the first of the thread's states running no Python */
	__u32 found;
};

/* One thread state, or at a list's end a step to the next interpreter's list (a bpf_loop
 * callback: one bound for every interpreter's threads together). The interpreters are
 * listed newest first: a thread that entered a subinterpreter is found by its state there,
 * the one running its innermost Python frames, before its state in the interpreter it came
 * from; a state of the thread running no Python is taken only if no other runs any. */
static long python_thread_step(__u32 index, struct python_thread_search *search)
{
	struct ember_python_process *layout = search->layout;
	if (search->thread == 0) {
		__u64 next = 0;
		if (bpf_probe_read_user(&next, sizeof(next), (void *)(search->interpreter + layout->interpreter_next)) != 0 ||
		    next == 0 ||
		    bpf_probe_read_user(&search->thread, sizeof(search->thread), (void *)(next + layout->threads_head)) != 0)
			return 1;
		search->interpreter = next;
		return 0;
	}
	__u64 thread_id = 0;
	if (bpf_probe_read_user(&thread_id, sizeof(thread_id), (void *)(search->thread + layout->thread_id)) != 0)
		return 1;
	if (thread_id == search->identity) {
		__u64 frame = python_current_frame(layout, search->thread);
		if (frame != 0) {
			search->found = 1;
			return 1;
		}
		if (search->idle == 0)
			search->idle = search->thread;
	}
	__u64 next = 0;
	if (bpf_probe_read_user(&next, sizeof(next), (void *)(search->thread + layout->thread_next)) != 0)
		next = 0;
	search->thread = next;
	return 0;
}

/* The sampled thread's PyThreadState, or 0 if it has none. */
static __always_inline __u64 python_thread_state(struct ember_python_process *layout, __u32 tid)
{
	__u64 identity = python_thread_identity();
	if (identity == 0)
		return 0;
	__u64 head = 0;
	if (bpf_probe_read_user(&head, sizeof(head), (void *)(layout->runtime + layout->interpreters_head)) != 0 || head == 0)
		return 0;
	struct python_known_thread *known = bpf_map_lookup_elem(&python_threads, &tid);
	if (known && known->interpreters == head) {
		__u64 thread_id = 0;
		if (bpf_probe_read_user(&thread_id, sizeof(thread_id), (void *)(known->thread + layout->thread_id)) == 0 &&
		    thread_id == identity)
			return known->thread;
	}
	struct python_thread_search search = {.layout = layout, .identity = identity, .interpreter = head};
	if (bpf_probe_read_user(&search.thread, sizeof(search.thread), (void *)(head + layout->threads_head)) != 0)
		return 0;
	bpf_loop(EMBER_MAX_PYTHON_THREADS, python_thread_step, &search, 0);
	__u64 thread = search.found ? search.thread : search.idle;
	if (thread == 0)
		return 0;
	__u64 next = 0;
	if (bpf_probe_read_user(&next, sizeof(next), (void *)(head + layout->interpreter_next)) == 0 && next == 0) {
		struct python_known_thread found = {.thread = thread, .interpreters = head};
		bpf_map_update_elem(&python_threads, &tid, &found, BPF_ANY);
	} else if (known) {
		bpf_map_delete_elem(&python_threads, &tid);
	}
	return thread;
}

struct python_walk {
	struct ember_python_process *layout;
	struct ember_python_stack *stack;
	__u64 frame;
	__u64 hash;
};

static long python_walk_ends(struct python_walk *walk, __u32 end)
{
	walk->stack->end = end;
	return 1;
}

/* One interpreter frame (a bpf_loop callback). */
static long python_step(__u32 index, struct python_walk *walk)
{
	struct ember_python_process *layout = walk->layout;
	struct ember_python_stack *stack = walk->stack;
	__u64 frame = walk->frame;
	if (frame == 0)
		return python_walk_ends(walk, EMBER_END_COMPLETE);
	__u64 code = 0, instruction = 0, previous = 0;
	__u8 owner = 0, is_entry = 0;
	if (bpf_probe_read_user(&code, sizeof(code), (void *)(frame + layout->frame_code)) != 0 ||
	    bpf_probe_read_user(&previous, sizeof(previous), (void *)(frame + layout->frame_previous)) != 0)
		return python_walk_ends(walk, EMBER_END_UNKNOWN);
	if (layout->flags & EMBER_PYTHON_FRAME_OBJECTS) {
		/* A PyFrameObject: its own activation, f_lasti an int (-1 before it starts). */
		__u32 last_instruction = 0;
		if (bpf_probe_read_user(&last_instruction, sizeof(last_instruction),
					(void *)(frame + layout->frame_instruction)) != 0)
			return python_walk_ends(walk, EMBER_END_UNKNOWN);
		instruction = (__u64)last_instruction << 1;
		is_entry = 1;
	} else if (bpf_probe_read_user(&instruction, sizeof(instruction), (void *)(frame + layout->frame_instruction)) != 0 ||
		   bpf_probe_read_user(&owner, sizeof(owner), (void *)(frame + layout->frame_owner)) != 0) {
		return python_walk_ends(walk, EMBER_END_UNKNOWN);
	}
	if (layout->frame_is_entry != EMBER_PYTHON_NO_FIELD &&
	    bpf_probe_read_user(&is_entry, sizeof(is_entry), (void *)(frame + layout->frame_is_entry)) != 0)
		return python_walk_ends(walk, EMBER_END_UNKNOWN);
	walk->frame = previous;
	__u32 depth = stack->depth;
	if (owner == EMBER_PYTHON_FRAME_OWNED_BY_CSTACK) {
		/* 3.12+: the frame below belongs to this activation, the next ones to an outer one. */
		if (depth > 0 && depth <= EMBER_MAX_PYTHON_DEPTH) {
			stack->frames[depth - 1].instruction |= EMBER_PYTHON_ENTRY_FRAME;
			walk->hash = fnv1a(walk->hash, EMBER_PYTHON_ENTRY_FRAME);
		}
		return 0;
	}
	if (depth >= EMBER_MAX_PYTHON_DEPTH)
		return python_walk_ends(walk, EMBER_END_TRUNCATED);
	if (is_entry)
		instruction |= EMBER_PYTHON_ENTRY_FRAME;
	stack->frames[depth].code = code;
	stack->frames[depth].instruction = instruction;
	stack->depth = depth + 1;
	walk->hash = fnv1a(fnv1a(walk->hash, code), instruction);
	return 0;
}

static __always_inline int send_python_stack_news(__u32 tgid, __u64 hash)
{
	struct ember_stack_sample event = {.kind = EMBER_PYTHON_STACK_NEW, .pid = tgid, .python_stack_hash = hash};
	return bpf_ringbuf_output(&stack_samples, &event, sizeof(event), BPF_RB_NO_WAKEUP);
}

/* The current thread's Python frames, kept in python_stacks: their hash, or 0 when the
 * process is not a Python one or the thread runs no Python (counted). */
static __always_inline __u64 python_stack(__u64 pid_tgid)
{
	if (!config.python_frames)
		return 0;
	__u32 tgid = pid_tgid >> 32;
	struct ember_python_process *layout = bpf_map_lookup_elem(&python_processes, &tgid);
	if (!layout)
		return 0;
	__u64 thread = python_thread_state(layout, (__u32)pid_tgid);
	if (thread == 0) {
		EMBER_PYTHON_COUNT(NO_THREAD);
		return 0;
	}
	__u32 zero = 0;
	struct ember_python_stack *stack = bpf_map_lookup_elem(&python_scratch, &zero);
	if (!stack)
		return 0;
	stack->depth = 0;
	stack->end = EMBER_END_TRUNCATED;
	struct python_walk walk = {.layout = layout, .stack = stack, .hash = FNV_OFFSET};
	__u64 frame = python_current_frame(layout, thread);
	if (frame == (__u64)-1) {
		EMBER_PYTHON_COUNT(READ_ERROR);
		return 0;
	}
	walk.frame = frame;
	/* Shim frames take steps too: room for one per kept frame. */
	bpf_loop(2 * EMBER_MAX_PYTHON_DEPTH + 1, python_step, &walk, 0);
	if (stack->depth == 0 && stack->end == EMBER_END_COMPLETE) {
		EMBER_PYTHON_COUNT(NO_THREAD); /* a thread state with no frames: not running Python */
		return 0;
	}
	if (stack->end == EMBER_END_UNKNOWN)
		EMBER_PYTHON_COUNT(READ_ERROR);
	else if (stack->end == EMBER_END_TRUNCATED)
		EMBER_PYTHON_COUNT(TRUNCATED);
	/* A hit is not compared with the stack (as CFI stacks are): a 64-bit collision would
	 * give a sample another stack's Python frames. */
	__u64 hash = fnv1a(walk.hash, stack->end);
	if (hash == 0)
		hash = 1;
	struct ember_python_stack *stored = bpf_map_lookup_elem(&python_stacks, &hash);
	if (!stored) {
		if (bpf_map_update_elem(&python_stacks, &hash, stack, BPF_NOEXIST) == 0) {
			if (send_python_stack_news(tgid, hash) != 0)
				EMBER_PYTHON_COUNT(NEWS_LOST);
		} else if (!bpf_map_lookup_elem(&python_stacks, &hash)) {
			EMBER_PYTHON_COUNT(STACKS_FULL);
			return 0;
		}
	}
	EMBER_PYTHON_COUNT(SAMPLES);
	return hash;
}

#endif
