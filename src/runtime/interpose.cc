// The two doors through which programs reach the driver at run time: dlsym and cuGetProcAddress.
#include <dlfcn.h>

#include "runtime/hooks.h"
#include "runtime/log.h"
#include "runtime/symbol_table.h"

using xpool::runtime::InterceptByAddress;
using xpool::runtime::InterceptByName;
using xpool::runtime::RealDlsym;

extern "C" {

void* xpool_dlsym_regular(void* handle, const char* name) {
  return InterceptByName(name, RealDlsym()(handle, name));
}

// dlsym finds RTLD_NEXT relative to its caller's return address, so a C++ wrapper would make
// every RTLD_NEXT lookup in the process relative to this library. The trampoline therefore jumps
// (never calls) into glibc's dlsym for RTLD_NEXT, leaving the caller's return address in place,
// and only other handles go through the interception.
asm(R"(
  .text
  .globl dlsym
  .type dlsym, @function
dlsym:
  .cfi_startproc
  cmpq $-1, %rdi
  jne xpool_dlsym_regular
  movq xpool_real_dlsym(%rip), %rax
  testq %rax, %rax
  jnz 1f
  pushq %rdi
  .cfi_adjust_cfa_offset 8
  pushq %rsi
  .cfi_adjust_cfa_offset 8
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  call xpool_init_real_dlsym
  addq $8, %rsp
  .cfi_adjust_cfa_offset -8
  popq %rsi
  .cfi_adjust_cfa_offset -8
  popq %rdi
  .cfi_adjust_cfa_offset -8
1:
  jmp *%rax
  .cfi_endproc
  .size dlsym, .-dlsym
)");

CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int version, cuuint64_t flags,
                             CUdriverProcAddressQueryResult* status) {
  auto real = XPOOL_REAL(cuGetProcAddress_v2);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  const CUresult rc = real(symbol, pfn, version, flags, status);
  if (rc == CUDA_SUCCESS && pfn != nullptr) {
    void* driver = *pfn;
    *pfn = InterceptByAddress(driver);
    xpool::runtime::Log(xpool::runtime::LogLevel::kDebug, "cuGetProcAddress_v2(%s, %d, %llu): %s",
                        symbol, version, static_cast<unsigned long long>(flags),
                        *pfn == driver ? "driver" : "hooked");
  }
  return rc;
}

CUresult cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
  auto real = XPOOL_REAL(cuGetProcAddress);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  const CUresult rc = real(symbol, pfn, version, flags);
  if (rc == CUDA_SUCCESS && pfn != nullptr) *pfn = InterceptByAddress(*pfn);
  return rc;
}

}  // extern "C"
