// SafeTensorsSet: the weights of a Hugging Face model directory, one model.safetensors or shards listed by
// model.safetensors.index.json ({"metadata": …, "weight_map": {tensor: shard file}}).
using System.Text.Json;

namespace NextToken.Interop;

/// <summary>Every tensor of a model directory, whichever shard holds it; errors name the file and the tensor.</summary>
public sealed class SafeTensorsSet : IDisposable
{
    /// <summary>The single-file name.</summary>
    public const string SingleFileName = "model.safetensors";
    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files = [];
    private readonly Dictionary<string, SafeTensorsFile> _byTensor = new(StringComparer.Ordinal);

    private SafeTensorsSet() { }

    /// <summary>Tensor names over all shards.</summary>
    public IEnumerable<string> Names => _byTensor.Keys;

    /// <summary>True when <paramref name="directory"/> holds model.safetensors or a shard index.</summary>
    public static bool IsPresent(string directory) =>
        File.Exists(Path.Combine(directory, SingleFileName)) || File.Exists(Path.Combine(directory, IndexFileName));

    /// <summary>Opens model.safetensors, or every shard the index names (each checked to hold the tensors mapped to it).</summary>
    public static SafeTensorsSet Open(string directory)
    {
        var set = new SafeTensorsSet();
        try
        {
            string index = Path.Combine(directory, IndexFileName);
            if (File.Exists(index))
            {
                JsonDocument doc;
                try { doc = JsonDocument.Parse(File.ReadAllText(index)); }
                catch (JsonException e) { throw new InvalidDataException($"'{index}' is not valid JSON: {e.Message}", e); }
                using (doc)
                {
                    if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"'{index}' has no \"weight_map\" object");
                    var shards = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
                    foreach (var p in map.EnumerateObject())
                    {
                        string shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidDataException($"'{index}': weight_map entry '{p.Name}' is not a file name");
                        if (!shards.TryGetValue(shard, out var file))
                        {
                            string shardPath = Path.Combine(directory, shard);
                            if (!File.Exists(shardPath)) throw new FileNotFoundException($"'{index}' maps tensor '{p.Name}' to '{shard}', which is missing from '{directory}'", shardPath);
                            file = SafeTensorsFile.Open(shardPath);
                            shards.Add(shard, file);
                            set._files.Add(file);
                        }
                        if (!file.Tensors.ContainsKey(p.Name)) throw new InvalidDataException($"'{index}' maps tensor '{p.Name}' to '{file.Path}', which does not hold it");
                        set._byTensor[p.Name] = file;
                    }
                }
                // Tensors a shard holds but the index forgot are still tensors of the model (and count as extra if unused).
                foreach (var f in set._files)
                    foreach (var name in f.Tensors.Keys) set._byTensor.TryAdd(name, f);
            }
            else
            {
                string single = Path.Combine(directory, SingleFileName);
                if (!File.Exists(single)) throw new FileNotFoundException($"'{directory}' has neither {SingleFileName} nor {IndexFileName}", single);
                var file = SafeTensorsFile.Open(single);
                set._files.Add(file);
                foreach (var name in file.Tensors.Keys) set._byTensor[name] = file;
            }
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>True when some shard holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>The tensor's header entry and the file that holds it.</summary>
    public (SafeTensorsFile File, SafeTensorInfo Info) Get(string name, string directory) =>
        _byTensor.TryGetValue(name, out var f) ? (f, f.Tensors[name])
            : throw new InvalidDataException($"'{directory}': the model's weights have no tensor '{name}'");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
