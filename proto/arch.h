/*
 * The architecture this binary was built for, as the HELLO answer and
 * STATUS report it: a client needs it to number system calls and to
 * spell flags (O_DIRECTORY is 0200000 on x86-64, 040000 on arm64), and
 * nothing else on the wire says it.  TP_ARCH is uname(2)'s machine
 * name where one name fits the build (x86_64, aarch64 ...; i686, arm and
 * x32 otherwise), TP_AUDIT_ARCH the AUDIT_ARCH_* value seccomp filters
 * match.
 */
#ifndef TETHER_ARCH_H
#define TETHER_ARCH_H

#include <linux/audit.h>

#if defined(__x86_64__) && defined(__ILP32__)
#define TP_ARCH "x32"
#define TP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__x86_64__)
#define TP_ARCH "x86_64"
#define TP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define TP_ARCH "i686"
#define TP_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define TP_ARCH "aarch64"
#define TP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__)
#define TP_ARCH "arm"
#define TP_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define TP_ARCH "riscv64"
#define TP_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define TP_ARCH "ppc64le"
#define TP_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define TP_ARCH "s390x"
#define TP_AUDIT_ARCH AUDIT_ARCH_S390X
#else
/* Unknown here: TP_ARCH stays undefined and the keys are left out
 * rather than guessed. */
#endif

#endif
