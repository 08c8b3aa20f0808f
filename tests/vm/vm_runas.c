/* SPDX-License-Identifier: Apache-2.0 */
/* vm_runas: the two privilege steps the VM's user-channel scenario needs and
 * busybox lacks (its setpriv cannot change user, and the image carries no
 * libcap tools):
 *
 *   vm_runas setcap FILE       gives FILE cap_net_admin,cap_net_raw+eip, the
 *                              file capabilities `setcap
 *                              cap_net_admin,cap_net_raw+eip FILE` writes
 *   vm_runas nobody CMD [ARG]  runs CMD as uid/gid 65534 with no
 *                              supplementary groups and no capabilities
 *                              beyond what CMD's file capabilities grant
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static int set_file_caps(const char *path) {
  /* The xattr layout setcap writes (VFS_CAP_REVISION_2): permitted and
   * inheritable sets, and the effective flag for "+e". */
  struct vfs_cap_data cap;
  memset(&cap, 0, sizeof cap);
  uint32_t bits = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
  cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  cap.data[0].permitted = bits;
  cap.data[0].inheritable = bits;
  if (setxattr(path, "security.capability", &cap, XATTR_CAPS_SZ_2, 0) < 0) {
    fprintf(stderr, "vm_runas: setxattr %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

static int run_as_nobody(char **argv) {
  /* Groups first: after setresuid we could no longer change them. Without
   * PR_SET_KEEPCAPS the kernel clears every capability when the uids leave
   * 0, which is the point. */
  if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
      setresuid(65534, 65534, 65534) < 0) {
    fprintf(stderr, "vm_runas: dropping to nobody: %s\n", strerror(errno));
    return 1;
  }
  execvp(argv[0], argv);
  fprintf(stderr, "vm_runas: %s: %s\n", argv[0], strerror(errno));
  return 127;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "setcap") == 0) return set_file_caps(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "nobody") == 0) return run_as_nobody(argv + 2);
  fprintf(stderr, "usage: vm_runas setcap FILE | vm_runas nobody CMD [ARG...]\n");
  return 2;
}
