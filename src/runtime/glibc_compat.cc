// The runtime is preloaded into every process of a container, whatever its glibc (Ubuntu 22.04
// ships 2.35, RHEL 8 2.28, RHEL 7 2.17), and a symbol version the container's glibc lacks stops
// each of those processes at load. So the library needs nothing newer than GLIBC_2.17
// (tests/runtime/runtime_glibc.sh checks it). The newer symbols that our code and the static
// libstdc++ and libgcc reference are redirected here with the linker's --wrap (CMakeLists.txt):
//  - functions glibc has had since 2.17, only under newer versions since they moved from
//    libpthread or libdl into libc (2.34), are bound to their old versions; libpthread.so.0 and
//    libdl.so.2 are needed explicitly so that older glibcs load them;
//  - functions younger than 2.17 (getrandom, getentropy, arc4random, memfd_create, the 2.33
//    entry points of fstat, stat and lstat) are made of system calls;
//  - _dl_find_object (2.35), which libgcc's unwinder asks first, is answered from
//    dl_iterate_phdr;
//  - __libc_single_threaded (2.32), which libstdc++ reads to skip atomics, is defined here as
//    "not single-threaded", always the safe answer.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>

// __wrap_NAME and the reserved names of glibc are the linker's and the C library's contract.
// NOLINTBEGIN(bugprone-reserved-identifier)

// Old versions of functions that moved into libc. Each xpool_glibc_NAME is a reference to NAME at
// the version glibc 2.17 has it under.
#define XPOOL_OLD_VERSION(name, version) \
  __asm__(".symver xpool_glibc_" #name ", " #name "@" version)
XPOOL_OLD_VERSION(dlopen, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(dlvsym, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(pthread_once, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(__pthread_key_create, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(pthread_mutexattr_init, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(pthread_mutexattr_destroy, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(pthread_mutexattr_setpshared, "GLIBC_2.2.5");
XPOOL_OLD_VERSION(pthread_mutexattr_setrobust, "GLIBC_2.12");
XPOOL_OLD_VERSION(pthread_mutex_consistent, "GLIBC_2.12");

extern "C" {

void* xpool_glibc_dlopen(const char* file, int mode);
void* xpool_glibc_dlvsym(void* handle, const char* name, const char* version);
int xpool_glibc_pthread_once(pthread_once_t* once, void (*init)());
int xpool_glibc___pthread_key_create(pthread_key_t* key, void (*destructor)(void*));
int xpool_glibc_pthread_mutexattr_init(pthread_mutexattr_t* attr);
int xpool_glibc_pthread_mutexattr_destroy(pthread_mutexattr_t* attr);
int xpool_glibc_pthread_mutexattr_setpshared(pthread_mutexattr_t* attr, int shared);
int xpool_glibc_pthread_mutexattr_setrobust(pthread_mutexattr_t* attr, int robust);
int xpool_glibc_pthread_mutex_consistent(pthread_mutex_t* mutex);

__attribute__((visibility("hidden"))) void* __wrap_dlopen(const char* file, int mode) {
  return xpool_glibc_dlopen(file, mode);
}
__attribute__((visibility("hidden"))) void* __wrap_dlvsym(void* handle, const char* name,
                                                          const char* version) {
  return xpool_glibc_dlvsym(handle, name, version);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_once(pthread_once_t* once,
                                                              void (*init)()) {
  return xpool_glibc_pthread_once(once, init);
}
__attribute__((visibility("hidden"))) int __wrap___pthread_key_create(pthread_key_t* key,
                                                                      void (*destructor)(void*)) {
  return xpool_glibc___pthread_key_create(key, destructor);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_mutexattr_init(pthread_mutexattr_t* a) {
  return xpool_glibc_pthread_mutexattr_init(a);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_mutexattr_destroy(pthread_mutexattr_t* a) {
  return xpool_glibc_pthread_mutexattr_destroy(a);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_mutexattr_setpshared(
    pthread_mutexattr_t* a, int shared) {
  return xpool_glibc_pthread_mutexattr_setpshared(a, shared);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_mutexattr_setrobust(pthread_mutexattr_t* a,
                                                                             int robust) {
  return xpool_glibc_pthread_mutexattr_setrobust(a, robust);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_mutex_consistent(pthread_mutex_t* m) {
  return xpool_glibc_pthread_mutex_consistent(m);
}

// Random bytes from the kernel (getrandom, Linux 3.17), else from /dev/urandom (older kernels,
// RHEL 7's 3.10). Returns false only when neither gives them.
static bool KernelRandom(void* buf, size_t len) {
  auto* out = static_cast<unsigned char*>(buf);
  size_t done = 0;
  while (done < len) {
    const long n = syscall(SYS_getrandom, out + done, len - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (done == len) return true;
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  while (done < len) {
    const ssize_t n = read(fd, out + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (!(n < 0 && errno == EINTR)) {
      break;
    }
  }
  close(fd);
  return done == len;
}

__attribute__((visibility("hidden"))) ssize_t __wrap_getrandom(void* buf, size_t len,
                                                               unsigned int flags) {
  return syscall(SYS_getrandom, buf, len, flags);
}
__attribute__((visibility("hidden"))) int __wrap_getentropy(void* buf, size_t len) {
  if (len > 256) {
    errno = EIO;
    return -1;
  }
  if (KernelRandom(buf, len)) return 0;
  errno = EIO;
  return -1;
}
__attribute__((visibility("hidden"))) uint32_t __wrap_arc4random() {
  uint32_t v = 0;
  if (!KernelRandom(&v, sizeof(v))) {
    // arc4random cannot fail; without the kernel's randomness, the clock is what is left.
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    v = static_cast<uint32_t>(t.tv_nsec) ^ static_cast<uint32_t>(t.tv_sec * 2654435761u);
  }
  return v;
}
__attribute__((visibility("hidden"))) int __wrap_memfd_create(const char* name,
                                                              unsigned int flags) {
  return static_cast<int>(syscall(SYS_memfd_create, name, flags));
}
// x86-64's struct stat is the kernel's.
__attribute__((visibility("hidden"))) int __wrap_fstat(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_fstat, fd, st));
}
__attribute__((visibility("hidden"))) int __wrap_stat(const char* path, struct stat* st) {
  return static_cast<int>(syscall(SYS_stat, path, st));
}
__attribute__((visibility("hidden"))) int __wrap_lstat(const char* path, struct stat* st) {
  return static_cast<int>(syscall(SYS_lstat, path, st));
}

// glibc 2.35's struct dl_find_object on x86-64 (no eh_dbase there).
struct XpoolDlFindObject {
  unsigned long long dlfo_flags;
  void* dlfo_map_start;
  void* dlfo_map_end;
  struct link_map* dlfo_link_map;
  void* dlfo_eh_frame;
  unsigned long long reserved[7];
};

__attribute__((visibility("hidden"))) int __wrap__dl_find_object(void* pc,
                                                                 XpoolDlFindObject* result) {
  struct Search {
    uintptr_t pc;
    XpoolDlFindObject* result;
    bool found;
  } search{reinterpret_cast<uintptr_t>(pc), result, false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* s = static_cast<Search*>(data);
        uintptr_t low = UINTPTR_MAX, high = 0, eh_frame = 0;
        bool inside = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_LOAD) {
            low = start < low ? start : low;
            high = start + ph.p_memsz > high ? start + ph.p_memsz : high;
            inside = inside || (s->pc >= start && s->pc < start + ph.p_memsz);
          } else if (ph.p_type == PT_GNU_EH_FRAME) {
            eh_frame = start;
          }
        }
        if (!inside) return 0;
        *s->result = XpoolDlFindObject{};
        // The program headers give addresses as integers.
        // NOLINTBEGIN(performance-no-int-to-ptr)
        s->result->dlfo_map_start = reinterpret_cast<void*>(low);
        s->result->dlfo_map_end = reinterpret_cast<void*>(high);
        s->result->dlfo_eh_frame = reinterpret_cast<void*>(eh_frame);
        // NOLINTEND(performance-no-int-to-ptr)
        s->found = true;
        return 1;
      },
      &search);
  return search.found ? 0 : -1;
}

__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

}  // extern "C"

// NOLINTEND(bugprone-reserved-identifier)
