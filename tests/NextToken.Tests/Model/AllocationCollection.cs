// AllocationCollection: tests that measure allocations or change ParallelRows.MaxThreads run alone, not beside others.
namespace NextToken.Tests.Model;

[CollectionDefinition("Allocation", DisableParallelization = true)]
public sealed class AllocationCollection;
