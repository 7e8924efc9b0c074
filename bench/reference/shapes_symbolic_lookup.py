# Cross-check (PyTorch, not part of the test suite): is the slow learning of "find a named shape" in builtin:shapes our
# engine's fault? The scene is given as words instead of pixels ("red circle , zero zero , blue square , green cross ."),
# then "where is the red circle ?" (answer "top left") or "what colour is the circle ?"; a GPT-2-style model of the same
# shape as builtin:shapes' (4 layers x 128, 4 heads, learned positions, AdamW lr 2e-3, betas 0.9/0.99, weight decay 0.1,
# warm-up 100, cosine to lr/10, clip 1, batch 32, loss only on the answer) trains for N steps and is scored by exact
# match. NextToken on the same task and steps gives the same figures (docs/multimodal.md), so the slowness is the task's.
# Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 shapes_symbolic_lookup.py where,colour 1500
import torch, torch.nn as nn, torch.nn.functional as F, random, math, sys, time
torch.set_num_threads(2)
types = sys.argv[1].split(','); iters = int(sys.argv[2]); lr0 = float(sys.argv[3]) if len(sys.argv) > 3 else 2e-3
L = int(sys.argv[4]) if len(sys.argv) > 4 else 4
kinds = ["square","circle","triangle","cross"]; cols = ["red","green","blue","yellow","white","purple"]
words = ["zero",",",".","\n","where","is","the","?","top","bottom","left","right","what","colour","<pad>"] + kinds + cols
V = {w:i for i,w in enumerate(words)}
def sample(rng):
    while True:
        n = rng.randint(1,4); cells = rng.sample(range(4), n); sh = {c:(rng.choice(cols), rng.choice(kinds)) for c in cells}
        scene = []
        for c in range(4):
            scene += (list(sh[c]) if c in sh else ["zero","zero"]) + ([","] if c < 3 else ["."])
        qs = []
        if "where" in types:
            for c,(co,k) in sh.items():
                if sum(1 for v in sh.values() if v == (co,k)) == 1:
                    qs.append((["where","is","the",co,k,"?"], ["top" if c < 2 else "bottom", "left" if c % 2 == 0 else "right"], "where"))
        if "colour" in types:
            for c,(co,k) in sh.items():
                if sum(1 for v in sh.values() if v[1] == k) == 1:
                    qs.append((["what","colour","is","the",k,"?"], [co], "colour"))
        if qs:
            q = rng.choice(qs); return scene, q
T = 40
def row(rng):
    scene, (q, a, t) = sample(rng)
    seq = scene + ["\n"] + q + ["\n"]; ans = a + ["\n"]
    full = [V[w] for w in seq + ans]
    x = full[:-1]; y = full[1:]; w = [0]*(len(seq)-1) + [1]*len(ans)
    pad = T - len(x)
    return x + [V["<pad>"]]*pad, y + [0]*pad, w + [0]*pad
class Block(nn.Module):
    def __init__(s, C, H):
        super().__init__(); s.ln1 = nn.LayerNorm(C); s.attn = nn.Linear(C, 3*C); s.proj = nn.Linear(C, C); s.ln2 = nn.LayerNorm(C); s.fc = nn.Linear(C, 4*C); s.fc2 = nn.Linear(4*C, C); s.H = H
    def forward(s, x):
        B,T,C = x.shape; q,k,v = s.attn(s.ln1(x)).split(C, 2)
        q,k,v = [z.view(B,T,s.H,C//s.H).transpose(1,2) for z in (q,k,v)]
        att = (q @ k.transpose(-1,-2)) / math.sqrt(C//s.H); att = att.masked_fill(torch.ones(T,T).tril() == 0, float('-inf')).softmax(-1)
        x = x + s.proj((att @ v).transpose(1,2).reshape(B,T,C)); return x + s.fc2(F.gelu(s.fc(s.ln2(x))))
class GPT(nn.Module):
    def __init__(s, V, C=128, L=4, H=4):
        super().__init__(); s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(64, C); s.blocks = nn.ModuleList([Block(C,H) for _ in range(L)]); s.lnf = nn.LayerNorm(C)
        s.apply(s.init)
    def init(s, m):
        if isinstance(m, nn.Linear): nn.init.normal_(m.weight, 0, 0.02); nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding): nn.init.normal_(m.weight, 0, 0.02)
    def forward(s, x):
        h = s.wte(x) + s.wpe(torch.arange(x.shape[1]))
        for b in s.blocks: h = b(h)
        return s.lnf(h) @ s.wte.weight.T
torch.manual_seed(1); rng = random.Random(1)
m = GPT(len(V), L=L); opt = torch.optim.AdamW(m.parameters(), lr=lr0, betas=(0.9,0.99), weight_decay=0.1)
t0 = time.time()
for step in range(iters):
    lr = lr0*(step+1)/100 if step < 100 else lr0/10 + 0.5*(lr0-lr0/10)*(1+math.cos(math.pi*(step-100)/(iters-100)))
    for g in opt.param_groups: g['lr'] = lr
    xs,ys,ws = zip(*[row(rng) for _ in range(32)]); x = torch.tensor(xs); y = torch.tensor(ys); w = torch.tensor(ws, dtype=torch.float)
    logits = m(x); loss = (F.cross_entropy(logits.reshape(-1, len(V)), y.reshape(-1), reduction='none') * w.reshape(-1)).sum() / w.sum()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if step % 250 == 0: print(step, round(loss.item(), 4), round(time.time()-t0), flush=True)
rng = random.Random(99); ok = {}; n = {}
with torch.no_grad():
    for i in range(400):
        x, y, w = row(rng); x = torch.tensor([x]); pred = m(x).argmax(-1)[0]
        good = all(pred[j].item() == y[j] for j in range(T) if w[j] > 0)
        scene, (q, a, t) = None, (None, None, None)
        # type from answer token
        t = "where" if y[[j for j in range(T) if w[j] > 0][0]] in (V["top"], V["bottom"]) else "colour"
        ok[t] = ok.get(t, 0) + good; n[t] = n.get(t, 0) + 1
print({t: round(100*ok[t]/n[t],1) for t in n})
