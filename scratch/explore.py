import torch, time
torch.backends.cuda.matmul.allow_tf32=True
for n in (2048,4096,8192):
    a=torch.randn(n,n,device='cuda',dtype=torch.bfloat16); b=torch.randn(n,n,device='cuda',dtype=torch.bfloat16)
    for _ in range(10): a@b
    torch.cuda.synchronize(); t=time.perf_counter()
    for _ in range(100): a@b
    torch.cuda.synchronize(); dt=(time.perf_counter()-t)/100
    print(f"matmul n={n} ms={dt*1e3:.3f} tflops={2*n**3/dt/1e12:.0f}")
x=torch.randn(1<<16,device='cuda')
for _ in range(100): x.mul_(1.0001)
torch.cuda.synchronize(); t=time.perf_counter()
for _ in range(10000): x.mul_(1.0001)
torch.cuda.synchronize(); print(f"small kernel us={(time.perf_counter()-t)/10000*1e6:.2f}")
