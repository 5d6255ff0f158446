using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tensors.Tests;

public class TensorTests
{
    [Fact]
    public void Reshape_and_slice_are_views_of_the_same_storage()
    {
        using var backend = new CpuBackend(1);
        var data = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        using var t = Tensor.FromArray(backend, data, 2, 3, 4);
        using var flat = t.Reshape(6, -1);
        using var second = t.Slice(1, 1);
        Assert.Equal([6, 4], flat.ShapeArray());
        Assert.Same(t.Storage, second.Storage);
        Assert.Equal(data[12..], second.ToArray<float>());
        backend.Fill(second, -1f);
        Assert.All(t.ToArray<float>()[12..], v => Assert.Equal(-1f, v));
        Assert.Equal(data[..12], t.ToArray<float>()[..12]);
    }

    [Fact]
    public void Storage_returns_to_the_pool_when_the_last_view_is_disposed()
    {
        using var backend = new CpuBackend(1);
        var t = Tensor.Empty(backend, 16, 16);
        var view = t.Reshape(256);
        var storage = t.Storage;
        t.Dispose();
        Assert.Equal(0, backend.Memory.PooledBytes);   // the view still holds it
        view.Dispose();
        Assert.Equal(1024, backend.Memory.PooledBytes);
        Assert.Equal(0, backend.Memory.LiveBytes);
        using var again = Tensor.Empty(backend, 256);
        Assert.Same(storage, again.Storage);          // same shape next step: no new allocation
        Assert.Equal(1024, backend.Memory.PeakLiveBytes);
    }

    [Fact]
    public void Drifting_shapes_share_size_classes_and_the_pool_stays_bounded()
    {
        // SFT pads each batch to its own longest example: every step asks for slightly different sizes.
        using var backend = new CpuBackend(1);
        Assert.Equal(5120, Backend.SizeClass(5000));                 // 1.25 · 4096
        Assert.Equal(6144, Backend.SizeClass(5121));                 // 1.5 · 4096
        Assert.Equal(1L << 20, Backend.SizeClass((1L << 20) - 100));
        Assert.InRange(Backend.SizeClass(123_457), 123_457, 123_457 * 1.25);
        var rng = new Random(1);
        for (int step = 0; step < 300; step++)
        {
            var batch = Enumerable.Range(0, 8).Select(_ => Tensor.Empty(backend, 1000 + rng.Next(200_000))).ToList();
            batch.ForEach(t => t.Dispose());
        }
        var m = backend.Memory;
        Assert.Equal(0, m.LiveBytes);
        Assert.True(m.PooledBytes <= Math.Max(64L << 20, m.PeakLiveBytes), $"pooled {m.PooledBytes} B, peak live {m.PeakLiveBytes} B");
        Assert.True(m.PeakReservedBytes < 4 * m.PeakLiveBytes + (64L << 20), $"reserved peak {m.PeakReservedBytes} B");
    }

    [Fact]
    public void A_new_size_evicts_pooled_blocks_so_live_plus_pooled_never_exceeds_the_live_peak()
    {
        using var backend = new CpuBackend(1);
        const long MiB = 1 << 20;
        var a = Enumerable.Range(0, 2).Select(_ => Tensor.Empty(backend, (int)(40 * MiB / 4))).ToList();   // 80 MiB live
        a.ForEach(t => t.Dispose());                                                                      // 80 MiB pooled
        Assert.Equal(80 * MiB, backend.Memory.PooledBytes);
        using (var b = Tensor.Empty(backend, (int)(48 * MiB / 4)))                                           // another size class
        {
            var m = backend.Memory;
            Assert.Equal(0, m.PooledBytes);              // 80 pooled + 48 new would exceed the 80 MiB peak: both 40s went
            Assert.Equal(80 * MiB, m.PeakLiveBytes);
            Assert.True(m.PeakReservedBytes <= 80 * MiB, $"reserved peak {m.PeakReservedBytes} B");
        }
        using var c = Tensor.Empty(backend, (int)(20 * MiB / 4));                                          // fits beside the pooled 48
        Assert.Equal(48 * MiB, backend.Memory.PooledBytes);
    }

    [Fact]
    public void Views_out_of_range_and_bad_reshapes_are_rejected()
    {
        using var backend = new CpuBackend(1);
        using var t = Tensor.Zeros(backend, 4, 5);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(3, 2));
        Assert.Throws<ArgumentException>(() => t.Reshape(3, -1));
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(backend, new float[5], 2, 3));
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Reshape(20));
    }
}

public class BFloat16Tests
{
    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(-2.0f, (ushort)0xC000)]
    [InlineData(1.00390625f, (ushort)0x3F80)]   // exactly half-way between 1 and 1+2^-7: ties to even (down)
    [InlineData(1.01171875f, (ushort)0x3F82)]   // half-way between 1+2^-7 and 1+2^-6: ties to even (up)
    [InlineData(float.PositiveInfinity, (ushort)0x7F80)]
    public void Rounds_to_nearest_even(float value, ushort bits) => Assert.Equal(bits, BFloat16.FromSingle(value));

    [Fact]
    public void Round_trip_error_is_within_half_an_ulp()
    {
        var rng = new Random(7);
        for (int i = 0; i < 10_000; i++)
        {
            float x = (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(2, rng.Next(-20, 20));
            float y = BFloat16.ToSingle(BFloat16.FromSingle(x));
            Assert.True(Math.Abs(x - y) <= Math.Abs(x) * Math.Pow(2, -8), $"{x} -> {y}");
        }
        Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(float.NaN))));
    }
}
