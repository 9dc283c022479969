"""The tagging pipeline: lemmas, negation, hedging, exclusions, relevance, entities, designs,
and bad input that must never sink a batch."""

import pytest

from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import MAX_FIELD_CHARS, TOO_LITTLE_TEXT, TextInput, tag_documents
from harvest.nlp.vocab import load_taxonomy


@pytest.fixture(scope="module")
def tagger():
    nlp, taxonomy = build_pipeline(), load_taxonomy()

    def tag(*inputs):
        return list(tag_documents(nlp, taxonomy, inputs))
    tag.nlp = nlp
    return tag


def one(tagger, title="", text="", **fields):
    return tagger(TextInput(id="x", title=title, abstract=text, **fields))[0]


def themes(result):
    return {t["theme"] for t in result["themes"]}


def test_lemmas_are_lower_case_and_plurals_fold(tagger):
    doc = tagger.nlp("Chatbots gave Therapists advice. AI was here.")
    assert [t.norm_ for t in doc][:3] == ["chatbot", "give", "therapist"]  # the lemma is the word's norm
    assert doc[5].norm_ == "ai"  # short words are not sent through the table ("ai" -> "have")


def test_a_statement_tags_its_theme_with_the_sentence_as_evidence(tagger):
    result = one(tagger, "Chatbots and AI psychosis",
                 "Several users of an AI chatbot developed delusions after long conversations. "
                 "Psychiatrists now ask patients about chatbot use.")
    assert result["relevant"]
    symptoms = next(t for t in result["themes"] if t["theme"] == "symptoms")
    assert symptoms["score"] >= 3  # a title hit weighs three times an abstract hit
    sentences = {e["sentence"] for e in symptoms["evidence"]}
    assert "Several users of an AI chatbot developed delusions after long conversations." in sentences
    evidence = symptoms["evidence"][0]
    assert evidence["field"] == "title" and evidence["text"] == "AI psychosis"
    assert (evidence["start"], evidence["end"]) == (13, 25)


def test_negated_mentions_are_not_evidence(tagger):
    result = one(tagger, "", "In this chatbot therapy trial for depression there was no evidence of psychosis. "
                             "The study did not assess privacy of the users.")
    assert "symptoms" not in themes(result) and "privacy" not in themes(result)
    assert "treatment" in themes(result)


def test_hedged_statements_count_and_are_marked(tagger):
    result = one(tagger, "", "Heavy use of AI companions may increase loneliness and emotional dependence "
                             "among people with depression.")
    symptoms = next(t for t in result["themes"] if t["theme"] == "symptoms")
    assert all(e["hedged"] for e in symptoms["evidence"])


def test_excluded_phrases_do_not_count(tagger):
    result = one(tagger, "", "\"AI psychosis\" is not an official diagnosis, psychiatrists say, but chatbots "
                             "can reinforce delusions in vulnerable users.")
    assert "diagnosis" not in themes(result) and "symptoms" in themes(result)


@pytest.mark.parametrize("title, text, relevant, reason", [
    ("Hospital AI reads X-rays", "An artificial intelligence system flags pneumonia on chest X-rays "
     "for radiologists to review before reports go out.", False, "no mental-health term"),
    ("Group therapy for anxiety", "Group cognitive behavioural therapy delivered by nurses reduced "
     "anxiety compared with usual care in primary care clinics.", False, "no AI, LLM or chatbot term"),
    ("Chatbot therapy for anxiety", "A chatbot delivering therapy exercises reduced anxiety in adults "
     "over four weeks compared with a waitlist.", True, "AI in this project's sense"),
])
def test_relevance_needs_both_ai_and_mental_health(tagger, title, text, relevant, reason):
    result = one(tagger, title, text)
    assert result["relevant"] is relevant and reason in result["relevance_reason"]
    if not relevant:
        assert result["themes"] == []


def test_entities_respect_case_rules(tagger):
    result = one(tagger, "", "Users compared ChatGPT, Claude and Character.AI; a claude-like tone "
                             "was noted by the FDA in Illinois among teens with depression.")
    ids = {e["id"] for e in result["entities"]}
    assert {"product:chatgpt", "product:claude", "product:character.ai", "organisation:fda",
            "jurisdiction:illinois", "population:adolescents", "condition:depression"} <= ids
    claude = next(e for e in result["entities"] if e["id"] == "product:claude")
    assert claude["mentions"] == 1  # "claude-like" in lower case is not the product


def test_study_design_from_publication_types_then_cues(tagger):
    text = ("We conducted semi-structured interviews with 20 users of a mental health chatbot "
            "and used thematic analysis.")
    assert one(tagger, "", text, kind="paper")["study_design"] == "qualitative"
    typed = one(tagger, "", text, kind="paper", publication_types=["Randomized Controlled Trial"])
    assert typed["study_design"] == "rct"
    assert typed["study_design_source"] == "publication type: Randomized Controlled Trial"
    assert one(tagger, "", text, kind="news")["study_design"] is None


def test_bad_input_gets_a_clear_result_and_never_sinks_the_batch(tagger):
    huge = "Chatbot therapy helps anxiety. " * (MAX_FIELD_CHARS // 10)
    results = tagger(
        TextInput(id="empty"),
        TextInput(id="german", title="Chatbots und psychische Gesundheit",
                  abstract="Die Studie untersucht, wie junge Menschen mit Depressionen einen Chatbot "
                           "nutzen und welche Erfahrungen sie dabei mit der Beratung machen. " * 3),
        TextInput(id="huge", abstract=huge),
        TextInput(id="html", abstract="<p>A <b>chatbot</b> gave &quot;harmful&quot; advice to users "
                                      "with an eating disorder.</p><script>x</script>"),
        TextInput(id="control", abstract="A chatbot\x00 helped\x07 many people with anxiety\x1b cope at night."),
    )
    by_id = {r["id"]: r for r in results}
    assert list(by_id) == ["empty", "german", "huge", "html", "control"]
    assert by_id["empty"]["relevance_reason"] == TOO_LITTLE_TEXT
    assert "not English" in by_id["german"]["relevance_reason"]
    assert any("cut to its first" in n for n in by_id["huge"]["notes"])
    assert by_id["html"]["relevant"] and "HTML remnants removed" in " ".join(by_id["html"]["notes"])
    assert "<b>" not in " ".join(e["sentence"] for t in by_id["html"]["themes"] for e in t["evidence"])
    assert by_id["control"]["relevant"] and any("control characters" in n for n in by_id["control"]["notes"])


def test_pipeline_is_built_from_registered_factories_without_a_model():
    from spacy.language import Language
    nlp = build_pipeline()
    assert nlp.pipe_names == ["sentences", "theme_matcher", "entity_matcher"]
    assert {"sentences", "theme_matcher", "entity_matcher"} <= set(Language.factories)
    assert nlp.meta["name"] == "pipeline" and not nlp.meta.get("vectors", {}).get("width")


SPLITTING = [
    "Chatbots help. Do they? Yes!! They do... (Some say no.) \"Quoted.\" Next one",
    ". Starts with a mark. And ends without one",
    "Dr. Smith et al. reported 3.5% (n=12). Results: mixed; see Fig. 2. Done.",
    "One\n\nTwo lines\u3002Three\u0964 four? ?? five",
    "no marks at all here",
    "!!!",
    "",
]


def test_sentences_split_as_spacys_sentencizer_does_where_no_mark_is_glued_to_a_word():
    import spacy
    stock = spacy.blank("en")
    stock.add_pipe("sentencizer")
    ours = build_pipeline()
    for text in SPLITTING:
        expected = [(s.start, s.end) for s in stock(text).sents]
        doc = ours(text)
        assert [(s.start, s.end) for s in doc.sents] == expected, text
        assert [(s.start, s.end) for s in doc._.reading.sentences if s.end > s.start] == expected, text
        assert [text[s.start_char:s.end_char].strip() for s in doc._.reading.sentences if s.end > s.start] == \
            [s.text.strip() for s in stock(text).sents], text


@pytest.mark.parametrize("text, sentences", [
    ("Lawsuit: Character.AI sued. Node.js and ASP.NET too.", ["Lawsuit: Character.AI sued.", "Node.js and ASP.NET too."]),
    ("Ask Character.AI? Yes! Character.AI-based, (Character.AI) Done",
     ["Ask Character.AI?", "Yes!", "Character.AI-based, (Character.AI) Done"]),
    # abstracts whose section labels lost their space: real ends before a capitalised word, a
    # single capital or a long capitals word
    ("It reached 70% accuracy.ConclusionOur results hold. Ok",
     ["It reached 70% accuracy.", "ConclusionOur results hold.", "Ok"]),
    ("Data were kept for 12 months.A total of 54 patients took part.",
     ["Data were kept for 12 months.", "A total of 54 patients took part."]),
    ("We enrolled controls.RESULTS We found none.", ["We enrolled controls.", "RESULTS We found none."]),
    ("It ended.\"Quoted\" (next.) Then", ["It ended.", "\"Quoted\" (next.)", "Then"]),
    ("It ended.\nNext. Last.", ["It ended.", "Next.", "Last."]),
])
def test_a_final_mark_glued_to_the_next_word_does_not_end_a_sentence(text, sentences):
    import spacy
    stock = spacy.blank("en")
    stock.add_pipe("sentencizer")
    doc = build_pipeline()(text)
    assert [text[s.start_char:s.end_char].strip() for s in doc._.reading.sentences if s.end > s.start] == sentences
    assert [s.text.strip() for s in doc.sents] == sentences
    if "Character.AI" in text:  # the one deliberate difference from spaCy's sentencizer
        assert [s.text.strip() for s in stock(text).sents] != sentences


HEADLINE = "Teen died by suicide after Character.AI chatbot urged him, lawsuit says"


def test_evidence_sentence_of_a_headline_naming_character_ai_is_the_whole_headline(tagger):
    result = one(tagger, HEADLINE, kind="news")
    evidence = [e for t in result["themes"] for e in t["evidence"]] + [e["evidence"] for e in result["entities"]]
    assert {"symptoms", "regulation"} <= themes(result)  # "died by suicide" and "lawsuit", either side of the "."
    assert "product:character.ai" in {e["id"] for e in result["entities"]}
    assert {e["sentence"] for e in evidence} == {HEADLINE}


def test_evidence_sentence_in_an_abstract_keeps_character_ai_whole(tagger):
    sentence = ("Users of Character.AI and other AI companions reported loneliness and emotional "
                "dependence after months of daily chatbot conversations.")
    result = one(tagger, "AI companions and loneliness", "We surveyed 400 adults. " + sentence + " Implications follow.")
    evidence = [e for t in result["themes"] for e in t["evidence"] if e["field"] == "abstract"]
    assert evidence and {e["sentence"] for e in evidence} == {sentence}


def test_entity_matcher_finds_what_two_entity_rulers_found():
    import spacy
    from harvest.nlp.pipeline import entity_patterns
    stock = spacy.blank("en")
    stock.add_pipe("entity_ruler", name="a", config={"phrase_matcher_attr": "LOWER"}).add_patterns(entity_patterns())
    stock.add_pipe("entity_ruler", name="b", config={"phrase_matcher_attr": "ORTH"}).add_patterns(
        entity_patterns(exact_case=True))
    ours = build_pipeline()
    ours.remove_pipe("entity_matcher")
    matcher = ours.add_pipe("entity_matcher")
    matcher.after = matcher.before = set()  # matching alone, without the context rules
    matcher.context = {}
    text = ("ChatGPT and chatgpt, GPT-4o and Character.AI; Claude helped, claude did not; Replika, Pi and pi; "
            "Google Gemini beside Gemini, OpenAI's o1 and Woebot Health's Woebot.")
    found = ours(text)._.reading.entities
    assert [(m.start, m.end, m.label, m.entity) for m in found] == \
        [(e.start, e.end, e.label_, e.ent_id_) for e in stock(text).ents]
    assert found and [text[m.start_char:m.end_char] for m in found] == [e.text for e in stock(text).ents]


@pytest.mark.parametrize("text, shown, not_shown", [
    ("The state law will protect patients from unregulated AI therapy chatbots.", {"safety"}, set()),
    ("A mental health chatbot must disclose to each user that it is not a human.", {"safety", "treatment"},
     set()),
    ("The law requires chatbot apps for depression to protect users' health information.", {"privacy"},
     {"misinformation", "safety"}),
    ("Regulators found that popular therapy chatbots still claim to be licensed professionals.",
     {"regulation"}, {"clinical_practice"}),
    ("With thoughtful oversight and accountability, policymakers can make mental health chatbots safer.",
     {"regulation"}, {"clinical_practice"}),
    ("Psychiatrists must provide oversight of the chatbot's answers to patients with depression.",
     {"clinical_practice"}, set()),
    ("We reviewed trials of therapy chatbots for depression; 120 studies were screened for eligibility.",
     {"treatment"}, {"diagnosis"}),
    ("Users of a social chatbot described friendships that shaped their psychological health.", set(),
     set()),
    ("Adults with depression used a large language model to manage their mental health between visits.",
     {"treatment"}, set()),
    ("Reviewers of LLMs in psychiatry raised concerns about the accuracy of generated content.",
     {"misinformation"}, set()),
    ("Our large language model for depression detection improved on two benchmarking datasets.",
     {"diagnosis"}, {"safety"}),
    ("The therapy chatbot company failed to obtain consent from users with depression.", {"privacy"},
     {"safety"}),
    ("We note barriers to the adoption of chatbots as therapists for depression.", {"treatment"}, {"access"}),
    ("The law defines therapy as services to diagnose, treat, or improve mental health and bans AI chatbots "
     "from providing it.", {"regulation"}, {"diagnosis"}),
])
def test_statements_of_the_domain_tag_their_theme_and_passing_words_do_not(tagger, text, shown, not_shown):
    result = one(tagger, "", text)
    assert result["relevant"], result["relevance_reason"]
    assert shown <= themes(result) and not (not_shown & themes(result)), result["themes"]



@pytest.mark.parametrize("text, shown, not_shown", [
    # a passing word is not a statement: a companion product, "encourage", health information named
    ("An AI companion chatbot urged a lonely user with depression to kill himself.", {"safety"}, {"treatment"}),
    ("Many young adults with depression now spend their evenings talking to an AI companion.", {"treatment"},
     set()),
    ("The companion chatbot shows crisis-line numbers to users who mention suicide.", set(),
     {"treatment", "symptoms"}),
    ("We encourage other teams to reuse our chatbot framework for depression care.", set(), {"safety"}),
    ("Women with postnatal depression asked the chatbot for health information and rated its answers.",
     set(), {"misinformation"}),
    ("An AI companion chatbot faces scrutiny for inciting violence and self-harm among users with depression.",
     {"safety"}, {"symptoms", "treatment"}),
    # statements of the theme in other words
    ("In the trial of the depression chatbot, one site reported an increase in depressive symptoms.",
     {"symptoms"}, set()),
    ("The chatbot encouraged a user's delusional beliefs about his psychiatrist.", {"safety"}, set()),
    ("Usability of the mental health chatbot was rated by 40 participants with anxiety.", {"trust"}, set()),
    ("The chatbot gave empathic replies to users with anxiety.", set(), {"trust"}),
    ("We discuss barriers to the implementation of LLM chatbots in routine mental health care.",
     {"clinical_practice"}, set()),
    ("Reviewers doubt the clinical use of large language models in psychiatry.", {"clinical_practice"}, set()),
    ("Chatbots for anxiety are low cost for people who cannot afford therapy.", {"access"}, set()),
    ("A fifth of the chatbot's answers on antidepressants were inaccurate.", {"safety"}, set()),
    ("The chatbot's screening output for depression gave few false positives.", set(), {"safety"}),
    ("The depression chatbot app falls outside HIPAA.", {"privacy", "regulation"}, set()),
])
def test_the_rules_read_statements_not_passing_words(tagger, text, shown, not_shown):
    """The rules alone (the learned layer, trained on longer texts, is not asked about one sentence)."""
    result = next(tag_documents(tagger.nlp, load_taxonomy(), [TextInput(id="x", abstract=text)], learned=False))
    assert result["relevant"], result["relevance_reason"]
    assert shown <= themes(result) and not (not_shown & themes(result)), result["themes"]

def test_json_objects_numbers_lines_and_names_what_is_not_an_object():
    from harvest.formats import json_objects
    lines = ['{"id": "a"}', "", "not json", "[1, 2]", '{"id": "b"}']
    found = list(json_objects(lines))
    assert [(n, row) for n, row, problem in found if not problem] == [(1, {"id": "a"}), (5, {"id": "b"})]
    assert [n for n, _, problem in found if problem] == [3, 4]
    assert "not an object" in found[2][2]


def test_the_learned_layer_needs_more_than_one_repeated_passing_word(tagger):
    """Where the rules did not reach a theme, the learned layer may show it only where a term, a
    statement or two different words name it: "data" said three times is not about privacy."""
    from harvest.nlp.tagger import finish, rule_results
    taxonomy = load_taxonomy()
    text = ("Users of the depression chatbot typed messages; the data were stored. The data were analysed. "
            "We describe the data in a table. Mood support and care were offered.")
    result = next(rule_results(tagger.nlp, taxonomy, [TextInput(id="x", title="A chatbot study", abstract=text)]))
    words = result["_rules"]["words"]  # lemmas
    assert result["relevance"] == "relevant" and len(words["privacy"]) == 1 and len(words["treatment"]) == 2
    shown = next(finish([result], taxonomy, [{"privacy": True, "treatment": True}]))
    assert "privacy" not in themes(shown)  # one word, repeated
    assert [t["source"] for t in shown["themes"] if t["theme"] == "treatment"] == ["learned"]  # two words
