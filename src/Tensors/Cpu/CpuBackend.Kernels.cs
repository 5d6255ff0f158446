namespace LoRAM.Tensors.Cpu;

// Placeholder until the kernels of this family land.
public sealed partial class CpuBackend
{
    public override void Add(Tensor a, Tensor b, Tensor y) => throw new NotImplementedException("Add");
    public override void Sub(Tensor a, Tensor b, Tensor y) => throw new NotImplementedException("Sub");
    public override void Mul(Tensor a, Tensor b, Tensor y) => throw new NotImplementedException("Mul");
    public override void Scale(Tensor x, float alpha, Tensor y) => throw new NotImplementedException("Scale");
    public override void Axpy(float alpha, Tensor x, Tensor y) => throw new NotImplementedException("Axpy");
    public override void Silu(Tensor x, Tensor y) => throw new NotImplementedException("Silu");
    public override void SiluBackward(Tensor x, Tensor dy, Tensor dx) => throw new NotImplementedException("SiluBackward");
    public override void SwiGlu(Tensor gate, Tensor up, Tensor y) => throw new NotImplementedException("SwiGlu");
    public override void SwiGluBackward(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup) => throw new NotImplementedException("SwiGluBackward");
    public override void Dropout(Tensor x, float p, ulong seed, Tensor y) => throw new NotImplementedException("Dropout");
    public override void Convert(Tensor source, Tensor destination) => throw new NotImplementedException("Convert");
    public override void Transpose(Tensor x, Tensor y) => throw new NotImplementedException("Transpose");
    public override void RowSum(Tensor x, Tensor y) => throw new NotImplementedException("RowSum");
    public override void RowMax(Tensor x, Tensor y) => throw new NotImplementedException("RowMax");
    public override void RowMeanSquare(Tensor x, Tensor y) => throw new NotImplementedException("RowMeanSquare");
    public override double SumSquares(Tensor x) => throw new NotImplementedException("SumSquares");
    public override void Softmax(Tensor x, Tensor y) => throw new NotImplementedException("Softmax");
    public override void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx) => throw new NotImplementedException("SoftmaxBackward");
    public override void RmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) => throw new NotImplementedException("RmsNorm");
    public override void RmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight) => throw new NotImplementedException("RmsNormBackward");
    public override void Rope(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y) => throw new NotImplementedException("Rope");
    public override void EmbeddingGather(Tensor table, Tensor ids, Tensor y) => throw new NotImplementedException("EmbeddingGather");
    public override void EmbeddingScatterAdd(Tensor ids, Tensor dy, Tensor dtable) => throw new NotImplementedException("EmbeddingScatterAdd");
    public override void Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse) => throw new NotImplementedException("Attention");
    public override void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale, Tensor dq, Tensor dk, Tensor dv) => throw new NotImplementedException("AttentionBackward");
    public override void CrossEntropy(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse) => throw new NotImplementedException("CrossEntropy");
    public override void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits) => throw new NotImplementedException("CrossEntropyBackward");
    public override void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, float biasCorrection1, float biasCorrection2) => throw new NotImplementedException("AdamW");
}
