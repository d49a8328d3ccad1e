#include <cuda.h>
#include <chrono>
#include <cstdio>
#include <vector>
__global__ void Spin(long long cycles){ long long s=clock64(); while(clock64()-s<cycles){} }
int main(){
  cuInit(0); CUdevice d; cuDeviceGet(&d,0); CUcontext c; cuDevicePrimaryCtxRetain(&c,d); cuCtxSetCurrent(c);
  CUfunction fn; cudaGetFuncBySymbol(&fn,(const void*)Spin);
  CUstream st; cuStreamCreate(&st,1);
  std::vector<CUevent> ev(100000);
  for(auto&e:ev) cuEventCreate(&e, CU_EVENT_DISABLE_TIMING);
  long long cyc=2000; void* args[]={&cyc};
  for(int i=0;i<1000;i++) cuLaunchKernel(fn,1,1,1,32,1,1,0,st,args,nullptr);
  cuStreamSynchronize(st);
  auto t0=std::chrono::steady_clock::now();
  for(int i=0;i<100000;i++) cuLaunchKernel(fn,1,1,1,32,1,1,0,st,args,nullptr);
  double a=std::chrono::duration<double,std::nano>(std::chrono::steady_clock::now()-t0).count()/1e5;
  cuStreamSynchronize(st);
  t0=std::chrono::steady_clock::now();
  for(int i=0;i<100000;i++){ cuLaunchKernel(fn,1,1,1,32,1,1,0,st,args,nullptr); cuEventRecord(ev[i],st); }
  double b=std::chrono::duration<double,std::nano>(std::chrono::steady_clock::now()-t0).count()/1e5;
  cuStreamSynchronize(st);
  t0=std::chrono::steady_clock::now();
  int done=0; for(int i=0;i<100000;i++){ done += cuEventQuery(ev[i])==CUDA_SUCCESS; }
  double q=std::chrono::duration<double,std::nano>(std::chrono::steady_clock::now()-t0).count()/1e5;
  // query on pending events
  for(int i=0;i<1000;i++){ cyc=1000000; cuLaunchKernel(fn,1,1,1,32,1,1,0,st,args,nullptr);} cuEventRecord(ev[0],st);
  t0=std::chrono::steady_clock::now();
  int pend=0; for(int i=0;i<10000;i++){ pend += cuEventQuery(ev[0])==CUDA_ERROR_NOT_READY; }
  double qp=std::chrono::duration<double,std::nano>(std::chrono::steady_clock::now()-t0).count()/1e4;
  CUstreamCaptureStatus cs; t0=std::chrono::steady_clock::now();
  for(int i=0;i<100000;i++) cuStreamIsCapturing(st,&cs);
  double ic=std::chrono::duration<double,std::nano>(std::chrono::steady_clock::now()-t0).count()/1e5;
  cuStreamSynchronize(st);
  printf("launch_ns=%.0f launch+record_ns=%.0f query_done_ns=%.0f (%d) query_pending_ns=%.0f (%d) iscapturing_ns=%.0f\n",a,b,q,done,qp,pend,ic);
}
