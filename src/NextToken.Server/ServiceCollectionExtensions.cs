// ServiceCollectionExtensions: registers a NextToken model as the application's IChatClient (services.AddChatClient).
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using NextToken.Interop;

namespace NextToken.Server;

/// <summary>Dependency-injection registration.</summary>
public static class NextTokenServiceCollectionExtensions
{
    /// <summary>
    /// Registers <paramref name="engine"/> (a singleton) and an <see cref="IChatClient"/> over it through
    /// <c>services.AddChatClient(...)</c>; the returned builder adds middleware (logging, caching, …) the usual way.
    /// </summary>
    public static ChatClientBuilder AddNextTokenChatClient(this IServiceCollection services, Func<IServiceProvider, ServingEngine> engine)
    {
        services.AddSingleton(engine);
        return services.AddChatClient(sp => new NextTokenChatClient(sp.GetRequiredService<ServingEngine>()));
    }

    /// <summary>Registers the model at <paramref name="checkpoint"/> (any format <see cref="ModelFiles"/> loads) as the IChatClient.</summary>
    public static ChatClientBuilder AddNextTokenChatClient(this IServiceCollection services, string checkpoint, ServeOptions? options = null) =>
        services.AddNextTokenChatClient(_ =>
        {
            var (model, tokenizer) = ModelFiles.LoadModel(checkpoint);
            return new ServingEngine(model, tokenizer, options);
        });
}
