import numpy as np, sys
sys.path.insert(0,'tests')
from sweeps.optimum import locate
rng=np.random.default_rng(42)
cov=err=0; n=40; errs=[]; widths=[]
for i in range(n):
    o_true=rng.uniform(0.1,0.9); noise=rng.choice([0.005,0.01,0.03]); seeds=int(rng.choice([1,2,3]))
    x=np.repeat([0,0.25,0.5,0.75,0.9,1.0],seeds); y=3+(x-o_true)**2+rng.normal(0,noise,len(x))
    o=locate(x,y,'min'); c=o.low<=o_true<=o.high; cov+=c; errs.append(abs(o.best-o_true)); widths.append(o.high-o.low)
    print(f"{o_true:.2f} {noise} {seeds} best {o.best:.2f} [{o.low:.2f},{o.high:.2f}] {'ok' if c else 'MISS'}",flush=True)
print("coverage",cov/n,"median err",np.median(errs),"within .05",np.mean(np.array(errs)<=0.05),"median width",np.median(widths))
