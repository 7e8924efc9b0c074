// LoraCommand: `nexttoken lora merge` — fold a LoRA adapter into its base and save an ordinary checkpoint.
using System.CommandLine;
using NextToken.FineTuning;
using NextToken.Interop;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken lora merge --checkpoint BASE --adapter DIR --out MERGED</c>.</summary>
internal sealed class LoraCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The base model the adapter was trained on", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "LoRA adapter directory (adapter_model.safetensors + adapter_config.json)", Required = true };
        var outDir = new Option<string>("--out") { Description = "Directory for the merged checkpoint", Required = true };
        var merge = new Command("merge", "W <- W + (alpha/r)·B·A for every adapted layer; the merged checkpoint's logits equal base + adapter's to fp32 rounding.\n" +
                                         "A task head saved beside the adapter is copied along.\n" +
                                         "Example: nexttoken lora merge --checkpoint runs/default --adapter runs/lora --out runs/merged");
        foreach (var o in new Option[] { checkpoint, adapter, outDir }) merge.Options.Add(o);
        merge.SetAction(pr =>
        {
            string a = pr.GetValue(adapter)!, o = pr.GetValue(outDir)!;
            bool hasHead = TaskHeadModel.HasHead(a);
            var loaded = ModelFiles.Load(pr.GetValue(checkpoint)!);
            var model = loaded.Model;
            var tokenizer = loaded.Tokenizer;
            if (hasHead && tokenizer is not null) (model, tokenizer) = TaskHeadModel.WithTaskTokens(model, tokenizer);
            var set = LoraSet.Load(a, model);
            set.Merge();
            model.SetTrainable(_ => true, true);
            NextToken.Training.Checkpoint.Save(o, model, tokenizer: tokenizer);
            if (hasHead)
                foreach (var f in new[] { TaskHeadModel.SpecFileName, TaskHeadModel.WeightsFileName }) File.Copy(Path.Combine(a, f), Path.Combine(o, f), overwrite: true);
            Console.WriteLine($"merged {set.Adapters.Sum(x => x.Segments.Count)} LoRA pairs (r={set.Options.Rank}, alpha={set.Options.Alpha}) into {o}");
            return 0;
        });
        var cmd = new Command("lora", "LoRA adapter tools (train adapters with finetune --lora-rank R).");
        cmd.Subcommands.Add(merge);
        return cmd;
    }
}
