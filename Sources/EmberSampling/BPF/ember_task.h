/*
 * What ember's BPF programs read of a task (CO-RE: relocated against the running kernel's
 * BTF), shared by profile.bpf.c and offcpu.bpf.c.
 */
#ifndef EMBER_TASK_H
#define EMBER_TASK_H

#include <asm/ptrace.h> /* struct pt_regs */

/* Only the fields read here; CO-RE relocates them against the running kernel's BTF. */
struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

/* The user registers of the current task (x86-64 layout): saved on entry to the kernel, whether the
 * sample interrupted user code or a system call. */
static __always_inline int user_registers(struct task_struct *task, __u64 *ip, __u64 *sp, __u64 *bp)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return -1;
	if (bpf_probe_read_kernel(ip, sizeof(*ip), &regs->rip) ||
	    bpf_probe_read_kernel(sp, sizeof(*sp), &regs->rsp) ||
	    bpf_probe_read_kernel(bp, sizeof(*bp), &regs->rbp))
		return -1;
	return 0;
}

/* Keeps a stack word only if it could be a user code address. Data on the stack passes
 * too; measured, it adds a few percent of keys (3,234 against 3,137 system-wide for 5 s),
 * far cheaper than bpf_find_vma, whose deferred unlock costs an extra interrupt per call.
 * User space checks the word against the process's modules. */
static __always_inline __u64 code_address_or_zero(__u64 word)
{
	return word < 4096 || word >= (1ULL << 47) ? 0 : word;
}

#endif
