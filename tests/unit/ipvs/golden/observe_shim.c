/* Observation aid for the golden recordings, never part of the product: an
 * LD_PRELOAD library that lets ipvsadm be observed on inputs a test guest cannot
 * produce.
 *  - nla_get_u64() returns FAKE_U64_<attribute type> from the environment, so that
 *    ipvsadm's formatting of huge counters (K/M/G/T scaling) can be seen.
 *    Attributes without such a variable read through.
 *  - fopen("/proc/net/ip_vs_conn") opens FAKE_IP_VS_CONN instead, when set, so that
 *    `ipvsadm -c` can be seen listing entries of any shape (persistence engine
 *    data, long names, odd states).
 * Built and used by record.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>

uint64_t nla_get_u64(const struct nlattr *nla) {
    char name[32];
    uint64_t x = 0;
    snprintf(name, sizeof name, "FAKE_U64_%d", nla->nla_type & NLA_TYPE_MASK);
    const char *v = getenv(name);
    if (v) return strtoull(v, NULL, 10);
    memcpy(&x, (const char *)nla + NLA_HDRLEN, sizeof x);
    return x;
}

FILE *fopen(const char *path, const char *mode) {
    static FILE *(*real_fopen)(const char *, const char *);
    const char *fake = getenv("FAKE_IP_VS_CONN");
    if (!real_fopen) real_fopen = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
    if (fake && strcmp(path, "/proc/net/ip_vs_conn") == 0) path = fake;
    return real_fopen(path, mode);
}
