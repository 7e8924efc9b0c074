// BatchLoaderState: everything a BatchLoader needs to carry on exactly where it stopped (saved in checkpoints).
namespace NextToken.Data;

/// <summary>
/// The whole mutable state of a <see cref="BatchLoader"/>: restoring it makes the loader produce exactly the
/// batches an uninterrupted run would have seen next.
/// </summary>
/// <param name="Position">Next start position of the sequential walk (unused, but kept, in random order).</param>
/// <param name="RngState">The PCG32 state (<see cref="NextToken.Tensors.Rng.State"/>).</param>
/// <param name="RngIncrement">The PCG32 stream (<see cref="NextToken.Tensors.Rng.Increment"/>).</param>
public sealed record BatchLoaderState(long Position, ulong RngState, ulong RngIncrement);
