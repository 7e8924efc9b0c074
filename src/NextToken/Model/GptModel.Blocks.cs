// GptModel.Blocks: the backward of a block's two branches (attention and MLP), shared by pre-LN and post-LN.
using NextToken.Kernels;

namespace NextToken.Model;

public sealed partial class GptModel
{
    /// <summary>
    /// MLP branch backward. dout is the gradient at the branch output (before the residual add); the gradient of the
    /// branch input is added to dInput (cleared first when <paramref name="clearInput"/>).
    /// Forward was: fch = mlpIn Wfc + b; g = GELU(fch); fcproj = dropout(g Wproj + b).
    /// </summary>
    private void MlpBackward(GptActivations a, LayerSlots w, int l, ReadOnlySpan<float> dout, ReadOnlySpan<float> mlpIn,
                             Span<float> dInput, bool clearInput, bool drop, int N, int C, int F)
    {
        ReadOnlySpan<float> dproj = dout; // without dropout the branch output's gradient is used as is (no copy)
        if (drop) { Dropout.Backward(dout, a[a.MlpMask[l]!], a[a.DTmp], N * C); dproj = a[a.DTmp]; }
        var dGelu = a[a.DFchGelu];
        var dFch = a[a.DFch];
        ParallelRows.Clear(dGelu);
        MatmulBackward(dproj, a[a.FchGelu[l]], P(w.FcProj), dGelu, G(w.FcProj), G(w.FcProjB), N, F, C);
        ParallelRows.Clear(dFch);
        Gelu.Backward(a[a.Fch[l]], dGelu, dFch, N * F);
        if (clearInput) ParallelRows.Clear(dInput);
        MatmulBackward(dFch, mlpIn, P(w.Fc), dInput, G(w.Fc), G(w.FcB), N, C, F);
    }

    /// <summary>
    /// Attention branch backward. Forward was: qkv = attnIn Wqkv + b; (RoPE on q, k); y = attention(qkv);
    /// attproj = dropout(y Wo + b). The gradient of attnIn is added to dInput (cleared first when asked).
    /// </summary>
    private void AttentionBackward(GptActivations a, LayerSlots w, int l, ReadOnlySpan<float> dout, ReadOnlySpan<float> attnIn,
                                   Span<float> dInput, bool clearInput, bool drop, int B, int T, int C, int NH)
    {
        int N = B * T;
        ReadOnlySpan<float> dproj = dout;
        if (drop) { Dropout.Backward(dout, a[a.AttMask[l]!], a[a.DTmp], N * C); dproj = a[a.DTmp]; }
        var dAtty = a[a.DAtty];
        var dQkv = a[a.DQkv];
        ParallelRows.Clear(dAtty);
        MatmulBackward(dproj, a[a.Atty[l]], P(w.AttnProj), dAtty, G(w.AttnProj), G(w.AttnProjB), N, C, C);
        ParallelRows.Clear(dQkv);
        AttentionBackwardKernel(dAtty, a[a.Qkv[l]], a[a.Atty[l]], a[a.AttScratch[l]], dQkv, B, T, C, NH);
        if (_ropeCos is not null)
        {
            // The backward of a rotation is the inverse rotation.
            Rope.Apply(dQkv, _ropeCos, _ropeSin, N, T, 3 * C, 0, C, NH, 0, inverse: true);
            Rope.Apply(dQkv, _ropeCos, _ropeSin, N, T, 3 * C, C, C, NH, 0, inverse: true);
        }
        if (clearInput) ParallelRows.Clear(dInput);
        MatmulBackward(dQkv, attnIn, P(w.Attn), dInput, G(w.Attn), G(w.AttnB), N, C, 3 * C);
    }

    // The training path's kernel calls go through these (the benchmark times the same products and attention outside
    // the model, on buffers of the same shapes: see the CLI's bench train).
    private static void MatmulForward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> outp, int N, int C, int OC)
        => Matmul.Forward(inp, weight, bias, outp, N, C, OC);

    private static void MatmulBackward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                       Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C, int OC)
        => Matmul.Backward(dout, inp, weight, dinp, dweight, dbias, N, C, OC);

    private static void AttentionForward(ReadOnlySpan<float> qkv, Span<float> outp, Span<float> scratch, int B, int T, int C, int NH)
        => Attention.Forward(qkv, outp, scratch, B, T, C, NH);

    private static void AttentionBackwardKernel(ReadOnlySpan<float> dout, ReadOnlySpan<float> qkv, ReadOnlySpan<float> outp, ReadOnlySpan<float> scratch,
                                                Span<float> dqkv, int B, int T, int C, int NH)
        => Attention.Backward(dout, qkv, outp, scratch, dqkv, B, T, C, NH);
}
