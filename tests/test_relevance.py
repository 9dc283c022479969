"""Relevance in four states, headlines judged alone, entities in context, the learned theme
layer, and a pipeline version that covers every input to a judgement. All texts are our own."""

import json
import shutil

import pytest
from click.testing import CliRunner

from harvest.cli import main
from harvest.nlp import corpus, learned, train
from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import PLACEHOLDER_ONLY, TextInput, tag_documents
from harvest.nlp.vocab import ANNOTATIONS, load_taxonomy

OWN_GOLD = ANNOTATIONS / "gold" / "gold.jsonl"


@pytest.fixture(scope="module")
def tag():
    nlp, taxonomy = build_pipeline(), load_taxonomy()

    def run(title="", text="", **fields):
        return next(tag_documents(nlp, taxonomy, [TextInput(id="x", title=title, abstract=text, **fields)]))
    run.nlp, run.taxonomy = nlp, taxonomy
    return run


def themes(result):
    return {t["theme"] for t in result["themes"]}


@pytest.mark.parametrize("title, text, state", [
    ("A chatbot for anxiety", "Adults with anxiety used a chatbot that delivers cognitive behavioural "
     "therapy exercises for four weeks; their symptoms fell compared with a waitlist.", "relevant"),
    ("Wearable sensors and machine learning predict depressive episodes",
     "Heart rate and accelerometer data from wrist sensors were fed to a machine learning model that "
     "predicted relapse of depression in 120 outpatients.", "related"),
    ("Machine learning on health records flags suicide risk",
     "A gradient boosting model trained on electronic health records identified patients at risk of "
     "suicide before their next visit.", "related"),
    ("A chatbot answers tax questions", "A large language model answered questions about tax "
     "returns for small businesses with fewer errors than a search engine.", "off-topic"),
    ("Group therapy for insomnia and anxiety", "Group sessions led by nurses reduced anxiety and "
     "improved sleep in primary care.", "off-topic"),
])
def test_relevance_has_four_states_with_reasons(tag, title, text, state):
    result = tag(title, text)
    assert result["relevance"] == state, result["relevance_reason"]
    assert result["relevant"] is (state == "relevant") and result["relevance_reason"]
    if state != "relevant":
        assert result["themes"] == []


def test_a_record_known_only_by_its_placeholder_is_undetermined(tag):
    result = tag("psychotic", "", unverified=["title"])
    assert result["relevance"] == "undetermined" and result["relevance_reason"] == PLACEHOLDER_ONLY
    # the same words, verified, are judged (and a bare word is too little to judge)
    assert tag("psychotic")["relevance"] == "undetermined"
    lawsuit = "Character.AI sued after teen's suicide following months of chatbot conversations"
    assert tag(lawsuit, unverified=["title"])["relevance"] == "undetermined"
    assert tag(lawsuit)["relevance"] == "relevant"


@pytest.mark.parametrize("headline, expected", [
    ("ChatGPT encourages a teenager to kill herself", {"safety"}),
    ("Man kills his mother after long chatbot conversations", {"symptoms"}),
    ("AI companion app urges user to starve himself", {"safety"}),
])
def test_a_headline_alone_is_judged_as_a_person_judges_it(tag, headline, expected):
    result = tag(headline)
    assert result["relevance"] == "relevant", result["relevance_reason"]
    assert expected <= themes(result)
    for theme in result["themes"]:
        assert theme["evidence"] and theme["evidence"][0]["sentence"] == headline


@pytest.mark.parametrize("headline", [
    "Psychologist's fake AI citations land in court filing",
    "Police use AI to identify suspects in bank robbery",
])
def test_a_headline_that_only_names_a_profession_or_other_ai_is_not_relevant(tag, headline):
    assert tag(headline)["relevance"] != "relevant"


def test_a_null_result_stays_relevant_and_negated_mentions_tag_no_theme(tag):
    result = tag("Four weeks with a support chatbot", "Users reported neither anxiety nor depression "
                 "after four weeks of chatbot use, and no psychosis was observed.")
    assert result["relevance"] == "relevant"
    assert "symptoms" not in themes(result)


def test_soft_hyphens_and_zero_width_characters_change_nothing(tag):
    plain = tag("Chatbots in emergency department triage of suicidal patients",
                "A large language model chatbot screened suicidal patients for risk in the emergency department.")
    marked = tag("Chat\u00adbots in emer\u00adgency department triage of sui\u00adcidal patients",
                 "A large lan\u200bguage model chat\u00adbot screened sui\u00adcidal patients for risk in "
                 "the emer\u2060gency department.")
    assert (marked["relevance"], themes(marked)) == (plain["relevance"], themes(plain))
    assert marked["relevance"] == "relevant"


def test_a_product_name_counts_only_where_it_names_the_product(tag):
    def products(text):
        return {e["id"] for e in tag("", text)["entities"] if e["type"] == "product"}
    assert products("She studied at Bard College and now runs a lab on depression.") == set()
    assert products("The Gemini column of the spreadsheet lists anxiety scores per sample.") == set()
    assert products("Claude Monet painted water lilies while grieving.") == set()
    assert "product:gemini" in products("Google's Gemini chatbot gave advice to users with depression.")
    assert "product:claude" in products("Users asked Claude, an AI model, about their anxiety.")


def test_themes_say_whether_rules_the_learned_layer_or_both_chose_them(tag):
    result = tag("Chatbot therapy and privacy", "A therapy chatbot for depression shared users' "
                 "health data with advertisers without consent, a privacy breach regulators now examine.")
    assert result["themes"]
    assert {t["source"] for t in result["themes"]} <= {"rules", "learned", "both"}
    rules_only = next(tag_documents(tag.nlp, tag.taxonomy, [TextInput(id="x", title="Chatbot therapy",
                                     abstract="A therapy chatbot for depression leaked users' health data.")],
                                    learned=False))
    assert {t["source"] for t in rules_only["themes"]} == {"rules"}


def test_a_parameters_file_that_does_not_fit_is_refused(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps({"format": 1, "embedding": learned.EMBEDDING, "features": ["a", "b"],
                               "themes": {"safety": {"coef": [0.1], "intercept": 0}}}))
    with pytest.raises(learned.ModelError, match="1 weights"):
        learned.load(bad)
    bad.write_text("not json")
    with pytest.raises(learned.ModelError, match="harvest train"):
        learned.load(bad)


def test_the_pipeline_version_covers_every_input_to_a_judgement(tmp_path):
    copies = {}
    for name in ("taxonomy.yaml", "entities.yaml", "tagger.yaml", "theme-model.json"):
        copies[name] = tmp_path / name
        shutil.copy(ANNOTATIONS / name, copies[name])

    def version():
        return corpus.pipeline_version(copies["taxonomy.yaml"], copies["entities.yaml"],
                                       copies["tagger.yaml"], copies["theme-model.json"])
    seen = {version()}
    for name, change in (("tagger.yaml", "\n# a cue changed\n"), ("theme-model.json", " "),
                         ("entities.yaml", "\n# an alias changed\n"), ("taxonomy.yaml", "\n# a term changed\n")):
        copies[name].write_text(copies[name].read_text() + change)
        seen.add(version())
    assert len(seen) == 5


def test_train_and_evaluate_report_cross_validated_figures(tmp_path):
    output = tmp_path / "model.json"
    result = CliRunner().invoke(main, ["train", "--gold", str(OWN_GOLD), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "rules + learned, k-fold" in result.output and "relevance accuracy" in result.output
    layer = learned.load(output)
    assert set(layer.themes) <= set(load_taxonomy().themes) and layer.themes
    trained = json.loads(output.read_text())["trained"]
    assert trained["documents"] == sum(1 for line in OWN_GOLD.read_text().splitlines() if line.strip())
    assert trained["embedding_scale"] in train.EMBEDDING_SCALES
    evaluated = CliRunner().invoke(main, ["evaluate", "--gold", str(OWN_GOLD), "--folds", "3", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.output)
    combined = figures["gold"]["rules+learned (cross-validated)"]
    assert {"micro", "macro", "themes", "relevance_accuracy", "study_design_accuracy"} <= set(combined)


def test_tag_text_gives_the_relevance_state_and_each_theme_source():
    line = json.dumps({"id": "n1", "title": "ChatGPT coached a teenager on how to commit suicide, lawsuit says",
                       "text": ""})
    result = CliRunner().invoke(main, ["tag-text"], input=line + "\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.splitlines()[0])
    assert out["relevance"] == "relevant" and out["relevant"] is True
    assert out["themes"] and all(t["source"] in ("rules", "learned", "both") for t in out["themes"])


def test_an_unquoted_no_among_the_cues_is_an_error_naming_the_line(tmp_path):
    from harvest.config import ConfigError
    from harvest.nlp.vocab import SETTINGS, load_settings
    broken = tmp_path / "tagger.yaml"
    broken.write_text(SETTINGS.read_text().replace('cues: ["no",', "cues: [no,"))
    with pytest.raises(ConfigError, match=r"tagger.yaml line \d+: negation.cues\[1\]: expected text"):
        load_settings(broken)


def test_embeddings_are_the_vectors_wordllama_gives_and_its_tokens():
    import numpy
    from harvest.nlp import learned
    words = "chatbot therapy reduced anxiety in adults while delusions rose after long conversations".split()
    texts = [" ".join(words[: 1 + (i * 7) % len(words)]) * (1 + i % 5) for i in range(150)]
    # runs of spaces, spaces at either end, newlines, tabs, the normaliser's own mark, other scripts
    awkward = ["a  b", "trailing ", "  lead", "x\n\ny  z   ", "\u2581odd\u2581 text", "tab\there",
               "\u00e9moji \U0001F600 and \u4e2d\u6587", "ChatGPT-4o's \"advice\" (n=12)"]
    model = learned.embedder()
    for text in texts + awkward:  # a text's tokens are its pieces' tokens, each piece tokenized once
        ids, ends = learned._embedder().token_ids([text])
        assert ids.tolist() == model.tokenizer.encode(text, add_special_tokens=False).ids, text
    ours = learned.embed(texts + awkward)
    theirs = numpy.asarray(model.embed(texts + awkward, norm=True), dtype="float32")
    assert ours.shape == (158, 256) and numpy.abs(ours - theirs).max() < 1e-5
    assert not learned.embed([""]).any()  # no token: a zero vector, not NaN


def test_the_remembered_pieces_start_over_when_full_without_losing_a_text(monkeypatch):
    from harvest.nlp import learned
    texts = ["chatbot therapy reduced anxiety", "delusions rose after long conversations with a companion app"]
    model = learned.embedder()
    monkeypatch.setattr(learned, "MAX_PIECES", 6)  # fewer than this batch's pieces
    ids, ends = learned._embedder().token_ids(texts)
    expected = [model.tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    assert ids.tolist() == expected[0] + expected[1] and ends.tolist() == [len(expected[0]), len(ids)]


@pytest.mark.parametrize("headline, shown, not_shown", [
    # advice is the chatbot's response; the harm is a reported event
    ("Companion chatbot suggests a user kills himself", {"safety"}, {"symptoms"}),
    ("Chatbot recommends a teenager kills his parents", {"safety"}, {"symptoms"}),
    ("AI chatbot supports self-harm and suicide in tests by reporters", {"safety"}, {"symptoms"}),
    ("Teen dies by suicide after months of chatbot conversations", {"symptoms"}, set()),
    ("Chatbot persuades a student to hang himself", {"safety", "symptoms"}, set()),
    ("AI assistant publishes a false suicide helpline number", {"misinformation", "safety"}, {"symptoms"}),
])
def test_advice_to_harm_is_a_response_and_harm_is_an_event(tag, headline, shown, not_shown):
    result = tag(headline)
    assert result["relevance"] == "relevant", result["relevance_reason"]
    assert shown <= themes(result) and not (not_shown & themes(result)), result["themes"]


def test_the_learned_layer_leaves_a_headline_to_the_rules(tag):
    result = tag("Eating disorder chatbot suspended after harmful advice")
    assert result["relevance"] == "relevant" and result["themes"]
    assert {t["source"] for t in result["themes"]} == {"rules"}
    rules = {"relevance": "relevant", "_rules": {"headline": True}}
    assert not learned.judges(rules)
    assert learned.judges({**rules, "_rules": {"headline": False}})
    assert not learned.judges({"relevance": "related", "_rules": {"headline": False}})


def test_ai_in_health_care_at_large_with_one_passing_mental_health_term_is_not_relevant(tag):
    text = ("Artificial intelligence (AI) is changing public health. AI tools forecast hospital demand "
            "from admissions, AI systems read chest scans for tuberculosis and AI-driven scheduling frees "
            "nurses for their patients. Health care providers, psychologists, physicians and pharmacists "
            "work beside these tools in clinics, pharmacies and laboratories across the region, and the "
            "time they save can go to emotional support of patients at the bedside. Vaccination "
            "registries, outbreak dashboards and tracing apps showed during the pandemic how quickly "
            "digital public health can reach whole populations when people trust the institutions that "
            "run it. Noncommunicable diseases such as diabetes, heart disease and cancer now account for "
            "most of the costs of care and most of the years of life lost, and prevention programmes "
            "for them look different from those for infections. Governments must fund the "
            "infrastructure, train the workforce, protect the data and regulate the vendors of AI so "
            "that rural clinics and small hospitals are not left behind, and they must measure whether "
            "the promised savings arrive.")
    result = tag("Digital transformation of public health", text)
    assert result["relevance"] != "relevant", result["relevance_reason"]
    # the same text about a chatbot is about AI in our sense: professions speak of mental health there
    chatbot = tag("A chatbot for emotional support of patients", text.replace("AI tools", "chatbots"))
    assert chatbot["relevance"] == "relevant", chatbot["relevance_reason"]


def test_the_embedding_scale_is_chosen_without_the_documents_it_will_judge(monkeypatch):
    _, taxonomy, sets, _ = train.load_sets([OWN_GOLD], [])
    items = sets["gold"]
    chosen = train.choose_scale(items, taxonomy)
    assert chosen in train.EMBEDDING_SCALES and train.choose_scale(items, taxonomy) == chosen  # fixed seed
    choices = []
    real_choose = train.choose_scale

    def spy(training, *args, **kwargs):
        choices.append({p.gold.id for p in training})
        return real_choose(training, *args, **kwargs)
    monkeypatch.setattr(train, "choose_scale", spy)
    train.cross_validate({"gold": items}, [], taxonomy, k=3)
    every = {p.gold.id for p in items}
    assert len(choices) == 3
    held_out = [every - chosen_from for chosen_from in choices]
    assert all(held_out) and set().union(*held_out) == every  # each fold's texts stayed out of its choice


def test_a_disputed_theme_counts_as_neither_error(tmp_path):
    """gold-real's README: `themes_disputed` are themes the two annotators did not agree on, "score
    neither way": shown or not, they are neither a hit nor an error."""
    from harvest.nlp.evaluate import load_gold, score
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [
        {"id": "a", "title": "t", "text": "", "relevant": True, "themes": ["safety"], "themes_disputed": ["trust"]},
        {"id": "b", "title": "t", "text": "", "relevant": True, "themes": ["safety", "trust"],
         "themes_disputed": ["trust"]},
    ]) + "\n")
    gold = load_gold(path)
    shown = {"a": {"relevant": True, "study_design": None, "themes": [{"theme": "safety"}, {"theme": "trust"}]},
             "b": {"relevant": True, "study_design": None, "themes": [{"theme": "safety"}]}}
    scores = score(gold, shown, ["safety", "trust"])
    assert scores["themes"]["trust"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert scores["micro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
