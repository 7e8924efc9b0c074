using NextToken.Chat;
using NextToken.Tokenization;

namespace NextToken.Tests.Chat;

public class ChatTemplateTests
{
    [Fact]
    public void ChatMl_RendersGoldenString()
    {
        var messages = new[] { ChatMessage.System("Be brief."), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello."), ChatMessage.User("Bye") };
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" +
                     "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.ChatMl.Render(messages));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", ChatTemplate.ChatMl.Render([ChatMessage.User("Hi")], addGenerationPrompt: false));
    }

    [Fact]
    public void Segments_MarkOnlyAssistantRepliesAndTheirEndMarker()
    {
        var segs = ChatTemplate.ChatMl.Segments([ChatMessage.User("q"), ChatMessage.Assistant("a")]);
        Assert.Equal([("<|im_start|>user\nq<|im_end|>\n", false), ("<|im_start|>assistant\n", false), ("a<|im_end|>", true), ("\n", false)],
                     segs.Select(s => (s.Text, s.Trainable)));
    }

    [Fact]
    public void UnknownRole_IsOneLineError()
    {
        var e = Assert.Throws<ArgumentException>(() => ChatTemplate.ChatMl.Render([new ChatMessage("robot", "x")]));
        Assert.Contains("unknown role 'robot'", e.Message);
        Assert.Throws<ArgumentException>(() => ChatTemplate.FromName("vicuna"));
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.FromName("ChatML"));
    }
}

public class SpecialTokensTokenizerTests
{
    [Fact]
    public void AddedTokens_GetOneIdEach_AfterTheBaseVocabulary_AndRoundTrip()
    {
        var gpt2 = TokenizerFactory.Create("gpt2");
        var tok = SpecialTokensTokenizer.Create(gpt2, ChatTemplate.ChatMl.SpecialTokens.Append("<|endoftext|>"));
        Assert.Equal(50257, tok.IdOf("<|im_start|>"));
        Assert.Equal(50258, tok.IdOf("<|im_end|>"));
        Assert.Equal(50256, tok.IdOf("<|endoftext|>"));   // the base's own special token keeps its id
        Assert.Equal(50259, tok.VocabSize);
        Assert.Equal(2, tok.NewTokenCount);
        string text = "<|im_start|>user\nHello there<|im_end|>\n<|endoftext|>";
        int[] ids = tok.Encode(text);
        int[] expected = [50257, .. gpt2.Encode("user\nHello there"), 50258, .. gpt2.Encode("\n"), 50256];
        Assert.Equal(expected, ids);
        Assert.Equal(text, tok.Decode(ids));
    }

    [Fact]
    public void SaveAndLoad_KeepIds_AndWrappingTwiceMerges()
    {
        var chars = CharTokenizer.FromText("abc \n");
        var tok = SpecialTokensTokenizer.Create(chars, ["<|im_start|>", "<|im_end|>"]);
        var again = SpecialTokensTokenizer.Create(tok, ["<|im_end|>", "<x>"]);
        Assert.Same(chars, again.Base);
        Assert.Equal(chars.VocabSize + 3, again.VocabSize);
        string dir = Path.Combine(Path.GetTempPath(), "nt-special-" + Guid.NewGuid().ToString("N"));
        try
        {
            again.Save(dir);
            var loaded = Assert.IsType<SpecialTokensTokenizer>(TokenizerStore.Load(dir));
            Assert.Equal(again.AddedTokens.OrderBy(p => p.Value), loaded.AddedTokens.OrderBy(p => p.Value));
            Assert.Equal(again.Encode("ab<x>c<|im_end|>"), loaded.Encode("ab<x>c<|im_end|>"));
        }
        finally { Directory.Delete(dir, true); }
    }
}

public class DeclaredChatTemplateTests
{
    [Fact]
    public void Zephyr_And_Llama3_RenderGoldenStrings()
    {
        var messages = new[] { ChatMessage.System("Be brief."), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello.") };
        Assert.Equal("<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|assistant|>\n", ChatTemplate.Zephyr().Render(messages));
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
                     "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                     ChatTemplate.Llama3.Render(messages));
        var segs = ChatTemplate.Llama3.Segments([ChatMessage.User(" q "), ChatMessage.Assistant("a")]);
        Assert.Equal([("<|begin_of_text|>", false), ("<|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>", false),
                      ("<|start_header_id|>assistant<|end_header_id|>\n\n", false), ("a<|eot_id|>", true)], segs.Select(s => (s.Text, s.Trainable)));
    }

    [Fact]
    public void FromJinja_RecognisesPublishedTemplates_AndForFallsBackWithANote()
    {
        // SmolLM2-Instruct's template (ChatML with a default system prompt), abbreviated to its markers.
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.FromJinja("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"));
        Assert.Same(ChatTemplate.Llama3, ChatTemplate.FromJinja("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"));
        Assert.Equal("<|assistant|>\n", ChatTemplate.FromJinja("'<|user|>\\n' ... '<|assistant|>\\n'", "<|endoftext|>")!.GenerationPrompt);
        Assert.Null(ChatTemplate.FromJinja("{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"));
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.For(TokenizerFactory.Create("gpt2"), out string? none));
        Assert.Null(none);
    }

    [Fact]
    public void ExportedChatTunedGpt2Vocabulary_CarriesAChatMlJinjaTemplate()
    {
        var tok = SpecialTokensTokenizer.Create(TokenizerFactory.Create("gpt2"), ChatTemplate.ChatMl.SpecialTokens);
        var hf = NextToken.Interop.HfTokenizer.From(tok)!;
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.FromJinja(hf.ChatTemplateSource));
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.For(hf));
    }
}
