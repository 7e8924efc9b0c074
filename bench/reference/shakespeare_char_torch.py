# shakespeare_char_torch.py - cross-check only, not part of the product: nanoGPT's CPU recipe for Shakespeare-char
# (4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 iterations, lr 1e-3 -> 1e-4, warmup 100, beta2 0.99,
# dropout 0, weight decay 0.1, clip 1.0, no biases, exact GELU, tied embeddings) in PyTorch, written for this project
# from the recipe's definitions, to see what the reference framework reaches on the same machine (docs/results.md).
#   apt-get install python3-torch      # Debian 12: PyTorch 1.13.1, CPU
#   /usr/bin/python3 bench/reference/shakespeare_char_torch.py [SEED]    # about 11 minutes on 2 cores
# Prints the 20-batch estimates every 250 steps, then the loss over the whole validation split in windows of 64.
import math, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1337
bias = False
torch.manual_seed(seed); torch.set_num_threads(2)
import os
here = os.path.dirname(os.path.abspath(__file__))
text = open(os.path.join(here, '..', '..', '..', 'shared', 'data', 'tinyshakespeare.txt')).read()
chars = sorted(set(text)); stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int64); n = int(0.9 * len(data))
train, val = torch.from_numpy(data[:n]), torch.from_numpy(data[n:])
L, H, C, T, B, V = 4, 4, 128, 64, 12, len(chars)
iters, lr0, minlr, warm = 2000, 1e-3, 1e-4, 100
class Blk(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1 = nn.LayerNorm(C)
        s.attn = nn.Linear(C, 3 * C, bias=bias); s.proj = nn.Linear(C, C, bias=bias)
        s.ln2 = nn.LayerNorm(C); s.fc = nn.Linear(C, 4 * C, bias=bias); s.proj2 = nn.Linear(4 * C, C, bias=bias)
    def forward(s, x):
        b, t, c = x.shape
        q, k, v = s.attn(s.ln1(x)).split(C, dim=2)
        q = q.view(b, t, H, c // H).transpose(1, 2); k = k.view(b, t, H, c // H).transpose(1, 2); v = v.view(b, t, H, c // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + s.proj(y)
        return x + s.proj2(F.gelu(s.fc(s.ln2(x))))
class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(T, C); s.h = nn.ModuleList([Blk() for _ in range(L)])
        s.lnf = nn.LayerNorm(C); s.head = nn.Linear(C, V, bias=False); s.wte.weight = s.head.weight
        for m in s.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None: nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding): nn.init.normal_(m.weight, 0.0, 0.02)
        for name, p in s.named_parameters():
            if name.endswith('proj.weight') or name.endswith('proj2.weight'): nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))
    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1]))
        for blk in s.h: x = blk(x)
        return F.cross_entropy(s.head(s.lnf(x)).view(-1, V), tgt.view(-1))
m = GPT()
# torch 1.13's LayerNorm has no bias=False: its biases stay at their initial zero, frozen
if not bias:
    for mod in m.modules():
        if isinstance(mod, nn.LayerNorm): mod.bias.requires_grad_(False)
ps = [p for p in m.parameters() if p.requires_grad]
dec = [p for p in ps if p.dim() >= 2]; nod = [p for p in ps if p.dim() < 2]
opt = torch.optim.AdamW([{'params': dec, 'weight_decay': 0.1}, {'params': nod, 'weight_decay': 0.0}], lr=lr0, betas=(0.9, 0.99))
def get_lr(it):
    if it < warm: return lr0 * (it + 1) / (warm + 1)
    if it > iters: return minlr
    r = (it - warm) / (iters - warm); return minlr + 0.5 * (1 + math.cos(math.pi * r)) * (lr0 - minlr)
def batch(d):
    ix = torch.randint(len(d) - T, (B,)); return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + 1 + T] for i in ix])
@torch.no_grad()
def est(d, k=20):
    m.eval(); l = torch.stack([m(*batch(d)) for _ in range(k)]).mean().item(); m.train(); return l
@torch.no_grad()
def fullval():
    m.eval(); tot, cnt = 0.0, 0
    for s0 in range(0, len(val) - T - 1, T):
        x = val[s0:s0 + T].unsqueeze(0); y = val[s0 + 1:s0 + 1 + T].unsqueeze(0); tot += m(x, y).item(); cnt += 1
    m.train(); return tot / cnt
t0 = time.time(); best = 9
for it in range(iters + 1):
    if it % 250 == 0:
        v = est(val); best = min(best, v); print(f"it {it} train {est(train):.4f} val {v:.4f}", flush=True)
    for g in opt.param_groups: g['lr'] = get_lr(it)
    x, y = batch(train); loss = m(x, y); opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
print(f"seed {seed} best_val {best:.4f} full_val {fullval():.4f} wall {time.time()-t0:.1f}s", flush=True)
