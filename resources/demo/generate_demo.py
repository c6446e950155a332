"""Generate the xlt demo corpus: English NER with gold German/Spanish translations.

Run ``.venv/bin/python resources/demo/generate_demo.py`` (``--out DIR`` to write elsewhere). The output
is a pure function of this file and the pinned sacremoses, so regenerating gives byte-identical files.

Every sentence is a hand-written parallel template (English / German / Spanish) whose entity slots are
filled from hand-written gazetteers with the entity's translation in each language. Gold tags on every
side come from the slots, so they are exact; the templates are written to make label projection
non-trivial (German verb-final clauses and separable verbs, case-inflected entities, German compounds,
Spanish noun-adjective order, articles outside the entity, multi-word names that change length or word
order in translation).

Template syntax (tokens separated by spaces, already tokenised as Moses would tokenise the text):

- ``{KIND<n>.<form>...}`` an entity slot: ``KIND`` picks the gazetteer (``P`` person, ``CL`` club, ``C``
  country, ...; see ``KIND_NAMES``), ``n`` tells slots of one kind apart; the same slot key in the three
  languages is the same entity. Forms: German case ``nom|acc|dat|gen``; ``bare`` (no article);
  ``last`` (surname); nationality endings (German ``e|en|er|es``, Spanish ``ms|fs|mp|fp``).
- ``{VALUE}`` a non-entity value (day, month, number) with its form in each language (``DAY.abend``).
- ``<SLOT@cond:A|B>`` text A if ``cond`` holds for the slot's entity in this language, else B.
  Conditions: ``m`` (male person; the default), ``art`` (takes an article), ``pl`` (plural), ``vowel``
  (starts with a vowel, for English a/an).

Articles and prepositions merge where the language requires it (German ``in dem`` -> ``im``, Spanish
``de el`` -> ``del``); articles are outside the entity (tag O), as in CoNLL.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sacremoses import MosesDetokenizer, MosesTokenizer

SEED = 2024
LANGS = ("en", "de", "es")
TARGETS = ("de", "es")
N_TRAIN, N_DEV, N_TEST, N_PARALLEL = 240, 40, 40, 400
MIN_LEN, MAX_LEN = 6, 30
LABELS = ("PER", "ORG", "LOC", "MISC")

# --------------------------------------------------------------------------------------------------
# Gazetteers
# --------------------------------------------------------------------------------------------------

KIND_NAMES = {
    "P": "person",
    "CO": "company",
    "IND": "manufacturer",
    "AIR": "airline",
    "CL": "football club",
    "BK": "central bank",
    "IN": "international institution",
    "MB": "organisation a country can leave",
    "DIP": "organisation with ambassadors",
    "AID": "aid / health organisation",
    "ME": "news organisation",
    "SP": "sports federation",
    "PA": "parliament",
    "C": "country",
    "CI": "city",
    "R": "region",
    "N": "nationality adjective",
    "EV": "event",
    "EVS": "sports event",
    "EVH": "event hosted by a country",
    "EVW": "event one can win",
    "EVF": "event with a final",
    "FILM": "film festival",
    "GP": "Grand Prix",
    "PZ": "prize",
    "PR": "product",
}

DE_ARTICLES = {
    "m": {"nom": "der", "acc": "den", "dat": "dem", "gen": "des"},
    "f": {"nom": "die", "acc": "die", "dat": "der", "gen": "der"},
    "n": {"nom": "das", "acc": "das", "dat": "dem", "gen": "des"},
    "pl": {"nom": "die", "acc": "die", "dat": "den", "gen": "der"},
}
DE_CASES = ("nom", "acc", "dat", "gen")
NAT_FORMS = {"de": ("e", "en", "er", "es"), "es": ("ms", "fs", "mp", "fp")}


@dataclass(frozen=True)
class Entity:
    """One gazetteer entry with its realisation in every language.

    ``forms[lang]`` maps a form name to its text ("" is the default form); ``art[lang]`` is the
    article the entity takes (English ``the``; German gender ``m|f|n|pl``; Spanish ``el|la|los|las``)
    or None.
    """

    key: str
    label: str
    kinds: tuple[str, ...]
    forms: dict[str, dict[str, str]]
    art: dict[str, str | None]
    plural: dict[str, bool]
    gender: str | None = None  # persons: "m" | "f"
    home: str | None = None  # nationality adjectives: the country's key


def entity(label: str, kinds: str, en: str, de: str, es: str) -> Entity:
    """An entry written as one spec string per language.

    English ``"[the ]Name[ +pl]"`` (``+pl``: plural verb agreement); Spanish ``"[el |la |los |las ]Name"``
    (a lower-case article outside the name); German ``"[m:|f:|n:|pl:]Nominative[/case=Form...]"`` with
    the gender of the article the name takes, and case forms that differ from the nominative:
    ``acc=``, ``dat=``, ``gen=``, or ``obl=`` (dative and genitive, and accusative if masculine: the
    weak adjective forms "Internationalen Währungsfonds"). Unless given, the genitive of a feminine
    is its dative, of a plural its nominative; other names have none (a slot asking for a genitive
    never receives them).
    """
    en_pl = en.endswith(" +pl")
    en = en.removesuffix(" +pl")
    en_art = en.startswith("the ")
    en = en.removeprefix("the ")
    es_art, _, es_name = es.partition(" ")
    if es_art not in ("el", "la", "los", "las"):
        es_art, es_name = "", es
    de_art, _, de_rest = de.partition(":") if re.match(r"^(m|f|n|pl):", de) else ("", "", de)
    nom, *overrides = de_rest.split("/")
    de_forms = {"nom": nom, "acc": nom, "dat": nom}
    for item in overrides:
        case, _, form = item.partition("=")
        if case == "obl":
            de_forms |= {"dat": form, "gen": form} | ({"acc": form} if de_art == "m" else {})
        elif case in DE_CASES[1:]:
            de_forms[case] = form
        else:
            raise ValueError(f"{en!r}: bad German form {item!r}")
    if "gen" not in de_forms and de_art in ("f", "pl"):
        de_forms["gen"] = de_forms["dat"] if de_art == "f" else nom
    return Entity(
        key=f"{label}:{en}",
        label=label,
        kinds=tuple(kinds.split()),
        forms={"en": {"": en}, "de": de_forms, "es": {"": es_name}},
        art={"en": "the" if en_art else None, "de": de_art or None, "es": es_art or None},
        plural={"en": en_pl, "de": de_art == "pl", "es": es_art in ("los", "las")},
    )


def entities(label: str, rows: Sequence[tuple[str, str, str, str]]) -> list[Entity]:
    """``entity(label, kinds, en, de, es)`` for every row."""
    return [entity(label, *row) for row in rows]


def person(name: str, gender: str, last: str | None = None) -> Entity:
    """A person: the same name in every language; ``last`` is the surname used alone."""
    last = last or name.split(" ", 1)[1]
    forms = {"": name, "last": last}
    return Entity(
        key=f"PER:{name}",
        label="PER",
        kinds=("P",),
        forms={lang: forms for lang in LANGS},
        art=dict.fromkeys(LANGS),
        plural=dict.fromkeys(LANGS, False),
        gender=gender,
    )


def nationality(en: str, de: str, es: Sequence[str], home: str) -> Entity:
    """A nationality adjective (MISC). ``de`` is the stem ("deutsch") or an invariant capitalised
    form ("Schweizer"); ``es`` the four forms masc. sg., fem. sg., masc. pl., fem. pl."""
    invariant = de[0].isupper()
    de_forms = {end: de if invariant else de + end for end in NAT_FORMS["de"]}
    return Entity(
        key=f"MISC:{en}",
        label="MISC",
        kinds=("N",),
        forms={"en": {"": en}, "de": de_forms, "es": dict(zip(NAT_FORMS["es"], es, strict=True))},
        art=dict.fromkeys(LANGS),
        plural=dict.fromkeys(LANGS, False),
        home=f"LOC:{home}",
    )


ORG, LOC, MISC = "ORG", "LOC", "MISC"

PERSONS = [
    person("Thomas Keller", "m"),
    person("Klaus Hoffmann", "m"),
    person("Carlos Ortega", "m"),
    person("Javier Morales", "m"),
    person("Giovanni Rossi", "m"),
    person("James Whitfield", "m"),
    person("Pieter de Vries", "m", last="De Vries"),
    person("Mehmet Yilmaz", "m"),
    person("Tomasz Nowak", "m"),
    person("Kofi Mensah", "m"),
    person("Erik Lindqvist", "m"),
    person("Jean-Pierre Martin", "m"),
    person("Hiroshi Sato", "m"),
    person("Lukas Brandt", "m"),
    person("José Martínez", "m"),
    person("Anna Weber", "f"),
    person("Sabine Richter", "f"),
    person("María Torres", "f"),
    person("Sarah Collins", "f"),
    person("Olga Petrova", "f"),
    person("Yuki Tanaka", "f"),
    person("Sophie Laurent", "f"),
    person("Ingrid Berg", "f"),
    person("Fatima Benali", "f"),
    person("Claudia Schulz", "f"),
    person("Ana Sousa", "f"),
    person("Marta Kowalska", "f"),
    person("Elena Conti", "f"),
]

ORGANISATIONS = entities(
    ORG,
    [
        # companies
        ("CO IND", "Siemens", "Siemens", "Siemens"),
        ("CO IND", "Volkswagen", "Volkswagen", "Volkswagen"),
        ("CO", "Deutsche Bank", "f:Deutsche Bank/dat=Deutschen Bank", "el Deutsche Bank"),
        ("CO IND", "Airbus", "Airbus", "Airbus"),
        ("CO", "Telefonica", "Telefónica", "Telefónica"),
        ("CO IND", "Nestle", "Nestlé", "Nestlé"),
        ("CO", "Banco Santander", "Banco Santander", "el Banco Santander"),
        ("CO IND", "BMW", "BMW", "BMW"),
        ("CO", "Microsoft", "Microsoft", "Microsoft"),
        ("CO IND", "Toyota", "Toyota", "Toyota"),
        ("CO IND", "Renault", "Renault", "Renault"),
        ("CO", "Inditex", "Inditex", "Inditex"),
        ("CO IND", "Bayer", "Bayer", "Bayer"),
        ("CO IND", "Philips", "Philips", "Philips"),
        ("CO", "Deutsche Telekom", "f:Deutsche Telekom/dat=Deutschen Telekom", "Deutsche Telekom"),
        ("CO IND", "General Motors", "General Motors", "General Motors"),
        ("CO", "Iberdrola", "Iberdrola", "Iberdrola"),
        # airlines
        ("CO AIR", "Lufthansa", "f:Lufthansa", "Lufthansa"),
        ("CO AIR", "Iberia", "Iberia", "Iberia"),
        ("CO AIR", "Air France", "f:Air France", "Air France"),
        ("CO AIR", "British Airways", "British Airways", "British Airways"),
        ("CO AIR", "Ryanair", "Ryanair", "Ryanair"),
        ("CO AIR", "KLM", "f:KLM", "KLM"),
        # football clubs: German adds the city, Spanish an article
        ("CL", "Bayern Munich", "Bayern München", "el Bayern de Múnich"),
        ("CL", "Real Madrid", "Real Madrid", "el Real Madrid"),
        ("CL", "Barcelona", "m:FC Barcelona", "el Barcelona"),
        ("CL", "Juventus", "Juventus Turin", "la Juventus"),
        ("CL", "Borussia Dortmund", "Borussia Dortmund", "el Borussia Dortmund"),
        ("CL", "Manchester United", "Manchester United", "el Manchester United"),
        ("CL", "Liverpool", "m:FC Liverpool", "el Liverpool"),
        ("CL", "AC Milan", "m:AC Mailand", "el Milan"),
        ("CL", "Ajax", "Ajax Amsterdam", "el Ajax"),
        ("CL", "Atletico Madrid", "Atlético Madrid", "el Atlético de Madrid"),
        ("CL", "Benfica", "Benfica Lissabon", "el Benfica"),
        ("CL", "Celtic", "Celtic Glasgow", "el Celtic"),
        # central banks
        (
            "BK IN",
            "the European Central Bank",
            "f:Europäische Zentralbank/dat=Europäischen Zentralbank",
            "el Banco Central Europeo",
        ),
        ("BK", "the Federal Reserve", "f:Fed", "la Reserva Federal"),
        ("BK", "the Bundesbank", "f:Bundesbank", "el Bundesbank"),
        ("BK", "the Bank of England", "f:Bank of England", "el Banco de Inglaterra"),
        ("BK", "the Bank of Japan", "f:Bank of Japan", "el Banco de Japón"),
        (
            "BK",
            "the Swiss National Bank",
            "f:Schweizerische Nationalbank/dat=Schweizerischen Nationalbank",
            "el Banco Nacional Suizo",
        ),
        # international institutions
        ("IN MB DIP", "the European Union", "f:Europäische Union/dat=Europäischen Union", "la Unión Europea"),
        ("IN MB DIP", "NATO", "f:NATO", "la OTAN"),
        ("IN MB DIP", "the United Nations", "pl:Vereinten Nationen", "las Naciones Unidas"),
        (
            "IN MB AID",
            "the World Health Organization",
            "f:Weltgesundheitsorganisation",
            "la Organización Mundial de la Salud",
        ),
        (
            "IN MB",
            "the International Monetary Fund",
            "m:Internationale Währungsfonds/obl=Internationalen Währungsfonds",
            "el Fondo Monetario Internacional",
        ),
        ("IN MB", "the World Bank", "f:Weltbank", "el Banco Mundial"),
        ("MB", "OPEC", "f:OPEC", "la OPEP"),
        ("IN", "the European Commission", "f:EU-Kommission", "la Comisión Europea"),
        # aid organisations
        ("AID", "the Red Cross", "n:Rote Kreuz/dat=Roten Kreuz/gen=Roten Kreuzes", "la Cruz Roja"),
        ("AID", "Doctors Without Borders", "Ärzte ohne Grenzen", "Médicos Sin Fronteras"),
        ("AID", "UNICEF", "UNICEF", "Unicef"),
        # news organisations
        ("ME", "Reuters", "Reuters", "Reuters"),
        ("ME", "Bloomberg", "Bloomberg", "Bloomberg"),
        ("ME", "the BBC", "f:BBC", "la BBC"),
        ("ME", "El Pais", "El País", "El País"),
        ("ME", "Le Monde", "Le Monde", "Le Monde"),
        ("ME", "the Financial Times", "f:Financial Times", "el Financial Times"),
        ("ME", "Agence France-Presse", "f:Agence France-Presse", "la Agence France-Presse"),
        # sports federations
        ("SP", "UEFA", "f:UEFA", "la UEFA"),
        ("SP", "FIFA", "f:FIFA", "la FIFA"),
        (
            "SP",
            "the International Olympic Committee",
            "n:Internationale Olympische Komitee/dat=Internationalen Olympischen Komitee"
            "/gen=Internationalen Olympischen Komitees",
            "el Comité Olímpico Internacional",
        ),
        # parliaments
        ("PA", "the Bundestag", "m:Bundestag", "el Bundestag"),
        (
            "PA",
            "the European Parliament",
            "n:Europäische Parlament/dat=Europäischen Parlament/gen=Europäischen Parlaments",
            "el Parlamento Europeo",
        ),
        ("PA", "the House of Commons", "n:Unterhaus/gen=Unterhauses", "la Cámara de los Comunes"),
    ],
)

COUNTRIES = entities(
    LOC,
    [
        ("C", "Germany", "Deutschland/gen=Deutschlands", "Alemania"),
        ("C", "Spain", "Spanien/gen=Spaniens", "España"),
        ("C", "France", "Frankreich/gen=Frankreichs", "Francia"),
        ("C", "Italy", "Italien/gen=Italiens", "Italia"),
        ("C", "the United States", "pl:Vereinigten Staaten", "Estados Unidos"),
        ("C", "Britain", "Großbritannien/gen=Großbritanniens", "Gran Bretaña"),
        ("C", "the Netherlands", "pl:Niederlande/dat=Niederlanden", "los Países Bajos"),
        ("C", "Switzerland", "f:Schweiz", "Suiza"),
        ("C", "Turkey", "f:Türkei", "Turquía"),
        ("C", "Japan", "Japan/gen=Japans", "Japón"),
        ("C", "China", "China/gen=Chinas", "China"),
        ("C", "Russia", "Russland/gen=Russlands", "Rusia"),
        ("C", "Brazil", "Brasilien/gen=Brasiliens", "Brasil"),
        ("C", "Mexico", "Mexiko/gen=Mexikos", "México"),
        ("C", "Argentina", "Argentinien/gen=Argentiniens", "Argentina"),
        ("C", "Austria", "Österreich/gen=Österreichs", "Austria"),
        ("C", "Poland", "Polen/gen=Polens", "Polonia"),
        ("C", "Sweden", "Schweden/gen=Schwedens", "Suecia"),
        ("C", "the Czech Republic", "Tschechien/gen=Tschechiens", "la República Checa"),
        ("C", "South Africa", "Südafrika/gen=Südafrikas", "Sudáfrica"),
        ("C", "New Zealand", "Neuseeland/gen=Neuseelands", "Nueva Zelanda"),
        ("C", "Greece", "Griechenland/gen=Griechenlands", "Grecia"),
        ("C", "Belgium", "Belgien/gen=Belgiens", "Bélgica"),
        ("C", "Portugal", "Portugal/gen=Portugals", "Portugal"),
        ("C", "Canada", "Kanada/gen=Kanadas", "Canadá"),
        ("C", "Egypt", "Ägypten/gen=Ägyptens", "Egipto"),
        ("C", "India", "Indien/gen=Indiens", "la India"),
        ("C", "Saudi Arabia", "Saudi-Arabien/gen=Saudi-Arabiens", "Arabia Saudí"),
    ],
)

CITIES = [
    entity(LOC, "CI", en, de, es)
    for en, de, es in [
        ("Berlin", "Berlin", "Berlín"),
        ("Munich", "München", "Múnich"),
        ("Hamburg", "Hamburg", "Hamburgo"),
        ("Cologne", "Köln", "Colonia"),
        ("Frankfurt", "Frankfurt", "Fráncfort"),
        ("Vienna", "Wien", "Viena"),
        ("London", "London", "Londres"),
        ("Paris", "Paris", "París"),
        ("Madrid", "Madrid", "Madrid"),
        ("Barcelona", "Barcelona", "Barcelona"),
        ("Seville", "Sevilla", "Sevilla"),
        ("Rome", "Rom", "Roma"),
        ("Milan", "Mailand", "Milán"),
        ("Brussels", "Brüssel", "Bruselas"),
        ("Geneva", "Genf", "Ginebra"),
        ("Zurich", "Zürich", "Zúrich"),
        ("Lisbon", "Lissabon", "Lisboa"),
        ("Warsaw", "Warschau", "Varsovia"),
        ("Moscow", "Moskau", "Moscú"),
        ("Beijing", "Peking", "Pekín"),
        ("Tokyo", "Tokio", "Tokio"),
        ("New York", "New York", "Nueva York"),
        ("Buenos Aires", "Buenos Aires", "Buenos Aires"),
        ("Mexico City", "Mexiko-Stadt", "Ciudad de México"),
        ("Athens", "Athen", "Atenas"),
        ("Prague", "Prag", "Praga"),
        ("Istanbul", "Istanbul", "Estambul"),
        ("Copenhagen", "Kopenhagen", "Copenhague"),
    ]
]

REGIONS = entities(
    LOC,
    [
        ("R", "Bavaria", "Bayern/gen=Bayerns", "Baviera"),
        ("R", "Catalonia", "Katalonien/gen=Kataloniens", "Cataluña"),
        ("R", "Andalusia", "Andalusien/gen=Andalusiens", "Andalucía"),
        ("R", "Tuscany", "f:Toskana", "la Toscana"),
        ("R", "California", "Kalifornien/gen=Kaliforniens", "California"),
        ("R", "Scotland", "Schottland/gen=Schottlands", "Escocia"),
        ("R", "the Alps +pl", "pl:Alpen", "los Alpes"),
        ("R", "Siberia", "Sibirien/gen=Sibiriens", "Siberia"),
        ("R", "Lower Saxony", "Niedersachsen/gen=Niedersachsens", "Baja Sajonia"),
        (
            "R",
            "North Rhine-Westphalia",
            "Nordrhein-Westfalen/gen=Nordrhein-Westfalens",
            "Renania del Norte-Westfalia",
        ),
        ("R", "the Basque Country", "n:Baskenland/gen=Baskenlandes", "el País Vasco"),
        ("R", "Lombardy", "f:Lombardei", "Lombardía"),
        ("R", "Provence", "f:Provence", "la Provenza"),
    ],
)

NATIONALITIES = [
    nationality(en, de, es.split(), home)
    for en, de, es, home in [
        ("German", "deutsch", "alemán alemana alemanes alemanas", "Germany"),
        ("French", "französisch", "francés francesa franceses francesas", "France"),
        ("Spanish", "spanisch", "español española españoles españolas", "Spain"),
        ("British", "britisch", "británico británica británicos británicas", "Britain"),
        ("Italian", "italienisch", "italiano italiana italianos italianas", "Italy"),
        ("Japanese", "japanisch", "japonés japonesa japoneses japonesas", "Japan"),
        ("Chinese", "chinesisch", "chino china chinos chinas", "China"),
        ("Russian", "russisch", "ruso rusa rusos rusas", "Russia"),
        ("Brazilian", "brasilianisch", "brasileño brasileña brasileños brasileñas", "Brazil"),
        ("Dutch", "niederländisch", "neerlandés neerlandesa neerlandeses neerlandesas", "Netherlands"),
        ("Swedish", "schwedisch", "sueco sueca suecos suecas", "Sweden"),
        ("Polish", "polnisch", "polaco polaca polacos polacas", "Poland"),
        ("Turkish", "türkisch", "turco turca turcos turcas", "Turkey"),
        ("Mexican", "mexikanisch", "mexicano mexicana mexicanos mexicanas", "Mexico"),
        ("Argentine", "argentinisch", "argentino argentina argentinos argentinas", "Argentina"),
        ("Canadian", "kanadisch", "canadiense canadiense canadienses canadienses", "Canada"),
        (
            "American",
            "amerikanisch",
            "estadounidense estadounidense estadounidenses estadounidenses",
            "United States",
        ),
        ("Austrian", "österreichisch", "austriaco austriaca austriacos austriacas", "Austria"),
        ("Swiss", "Schweizer", "suizo suiza suizos suizas", "Switzerland"),
        (
            "South African",
            "südafrikanisch",
            "sudafricano sudafricana sudafricanos sudafricanas",
            "South Africa",
        ),
        ("Greek", "griechisch", "griego griega griegos griegas", "Greece"),
        ("Portuguese", "portugiesisch", "portugués portuguesa portugueses portuguesas", "Portugal"),
        ("Belgian", "belgisch", "belga belga belgas belgas", "Belgium"),
    ]
]

EVENTS = entities(
    MISC,
    [
        ("EV EVS EVH EVW EVF", "the World Cup", "f:Weltmeisterschaft", "la Copa del Mundo"),
        ("EV EVS EVH EVW EVF", "the European Championship", "f:Europameisterschaft", "la Eurocopa"),
        (
            "EV EVS EVH",
            "the Olympic Games +pl",
            "pl:Olympischen Spiele/dat=Olympischen Spielen",
            "los Juegos Olímpicos",
        ),
        ("EV EVS EVW EVF", "the Champions League", "f:Champions League", "la Liga de Campeones"),
        ("EV EVS EVW", "the Tour de France", "f:Tour de France", "el Tour de Francia"),
        ("EV EVS EVW EVF", "the Davis Cup", "m:Davis Cup/gen=Davis Cups", "la Copa Davis"),
        (
            "EV EVH EVW EVF",
            "the Eurovision Song Contest",
            "m:Eurovision Song Contest/gen=Eurovision Song Contests",
            "el Festival de Eurovisión",
        ),
        ("EV EVS EVW EVF", "the Australian Open", "pl:Australian Open", "el Abierto de Australia"),
        ("EV", "the Frankfurt Book Fair", "f:Frankfurter Buchmesse", "la Feria del Libro de Fráncfort"),
        ("EV FILM", "the Berlin Film Festival", "f:Berlinale", "el Festival de Cine de Berlín"),
        (
            "EV FILM",
            "the Venice Film Festival",
            "pl:Filmfestspiele von Venedig/dat=Filmfestspielen von Venedig",
            "el Festival de Venecia",
        ),
        (
            "EV FILM",
            "the Cannes Film Festival",
            "n:Filmfestival von Cannes/gen=Filmfestivals von Cannes",
            "el Festival de Cannes",
        ),
    ],
)

GRANDS_PRIX = [
    entity(
        MISC,
        "GP",
        f"the {en} Grand Prix",
        f"m:Große Preis von {de}/obl=Großen Preis von {de}/gen=Großen Preises von {de}",
        f"el Gran Premio de {es}",
    )
    for en, de, es in [
        ("Spanish", "Spanien", "España"),
        ("Monaco", "Monaco", "Mónaco"),
        ("British", "Großbritannien", "Gran Bretaña"),
        ("Italian", "Italien", "Italia"),
        ("Brazilian", "Brasilien", "Brasil"),
    ]
]

PRIZES = entities(
    MISC,
    [
        ("PZ", "the Nobel Peace Prize", "m:Friedensnobelpreis", "el Premio Nobel de la Paz"),
        ("PZ", "the Nobel Prize in Literature", "m:Literaturnobelpreis", "el Premio Nobel de Literatura"),
        ("PZ", "the Pulitzer Prize", "m:Pulitzer-Preis", "el Premio Pulitzer"),
        ("PZ", "the Sakharov Prize", "m:Sacharow-Preis", "el Premio Sájarov"),
        ("PZ", "the Golden Bear", "m:Goldene Bär/obl=Goldenen Bären", "el Oso de Oro"),
    ],
)

PRODUCTS = entities(
    MISC,
    [
        ("PR", "the Airbus A320", "m:Airbus A320", "el Airbus A320"),
        ("PR", "the Boeing 737", "f:Boeing 737", "el Boeing 737"),
        ("PR", "the PlayStation 5", "f:PlayStation 5", "la PlayStation 5"),
        ("PR", "the iPhone 15", "n:iPhone 15", "el iPhone 15"),
        ("PR", "the Volkswagen Golf", "m:Volkswagen Golf", "el Volkswagen Golf"),
        ("PR", "the Galaxy S24", "n:Galaxy S24", "el Galaxy S24"),
        ("PR", "Windows 11", "Windows 11", "Windows 11"),
    ],
)

ENTITIES: list[Entity] = (
    PERSONS
    + ORGANISATIONS
    + COUNTRIES
    + CITIES
    + REGIONS
    + NATIONALITIES
    + EVENTS
    + GRANDS_PRIX
    + PRIZES
    + PRODUCTS
)

# --------------------------------------------------------------------------------------------------
# Non-entity values: (en, de, es) realisations; extra German forms where a template needs them
# --------------------------------------------------------------------------------------------------

_DAYS = list(
    zip(
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
        ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
        strict=True,
    )
)
_MONTHS = list(
    zip(
        ["January", "February", "March", "April", "May", "June"]
        + ["July", "August", "September", "October", "November", "December"],
        ["Januar", "Februar", "März", "April", "Mai", "Juni"]
        + ["Juli", "August", "September", "Oktober", "November", "Dezember"],
        ["enero", "febrero", "marzo", "abril", "mayo", "junio"]
        + ["julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
        strict=True,
    )
)


def _dec(x: float) -> tuple[str, str, str]:
    en = f"{x:g}" if x != int(x) else f"{x:.1f}"
    return en, en.replace(".", ","), en.replace(".", ",")


def _thousands(n: int) -> tuple[str, str, str]:
    en = f"{n:,}"
    return en, en.replace(",", "."), en.replace(",", ".")


def _billions(x: float) -> tuple[str, str, str]:
    """'1.2 billion' = '1,2 Milliarden' = '1.200 millones'."""
    en, de, _ = _dec(x)
    return en, de, f"{round(x * 1000):,}".replace(",", ".")


def _value_table(
    rows: Sequence[tuple[str, ...]], **extra_de: Sequence[str]
) -> list[dict[str, dict[str, str]]]:
    out = []
    for i, (en, de, es) in enumerate(rows):
        de_forms = {"": de} | {name: forms[i] for name, forms in extra_de.items()}
        out.append({"en": {"": en}, "de": de_forms, "es": {"": es}})
    return out


VALUES: dict[str, list[dict[str, dict[str, str]]]] = {
    "DAY": _value_table(_DAYS, abend=[d + "abend" for _, d, _ in _DAYS]),
    "MON": _value_table(_MONTHS),
    "PCT": _value_table([_dec(k / 10) for k in range(2, 99) if k % 10]),
    "PCTB": _value_table([_dec(k / 10) for k in range(401, 700, 7) if k % 10]),
    "BP": _value_table([_dec(x) for x in (0.25, 0.5, 0.75)]),
    "NUM": _value_table([(str(k), str(k), str(k)) for k in range(3, 31)]),
    "K": _value_table(
        [
            _thousands(n)
            for n in (350, 480, 600, 750, 900, 1200, 1500, 1800, 2400, 3000, 3500, 4200, 5000, 8000)
        ]
    ),
    "BIL": _value_table([_billions(x) for x in (1.2, 1.5, 2.3, 3.1, 4.8, 6.4, 7.9, 12.5)]),
    "YR": _value_table([(str(y),) * 3 for y in range(2012, 2025)]),
    "FY": _value_table([(str(y),) * 3 for y in range(2026, 2035)]),
    "BYR": _value_table([(str(y),) * 3 for y in range(1952, 2000, 3)]),
    "AGE": _value_table([(str(a),) * 3 for a in range(19, 39)]),
    "OLD": _value_table([(str(a),) * 3 for a in range(71, 97)]),
}

# --------------------------------------------------------------------------------------------------
# Templates: (English, German, Spanish), tokenised
# --------------------------------------------------------------------------------------------------

TEMPLATES: list[tuple[str, str, str]] = [
    (
        "{P1} , the {N1} finance minister , said on {DAY} that the economy would grow by {PCT} percent .",
        "{P1} , <P1:der {N1.e} Finanzminister|die {N1.e} Finanzministerin> , sagte am {DAY} , dass die "
        "Wirtschaft um {PCT} Prozent wachsen werde .",
        "{P1} , <P1:ministro {N1.ms}|ministra {N1.fs}> de Finanzas , dijo el {DAY} que la economía crecería "
        "un {PCT} % .",
    ),
    (
        "{CO1} said on {DAY} it would cut {K} jobs in {C1} by {FY} .",
        "{CO1.nom} kündigte am {DAY} an , bis {FY} in {C1.dat} {K} Stellen abzubauen .",
        "{CO1} anunció el {DAY} que recortará {K} empleos en {C1} antes de {FY} .",
    ),
    (
        "The {N1} government has rejected the proposal from {IN1} .",
        "Die {N1.e} Regierung hat den Vorschlag {IN1.gen} abgelehnt .",
        "El Gobierno {N1.ms} ha rechazado la propuesta de {IN1} .",
    ),
    (
        "{P1} scored twice as {CL1} beat {CL2} on {DAY} .",
        "{P1} traf zweimal , als {CL1.nom} am {DAY} {CL2.acc} besiegte .",
        "{P1} marcó dos goles en la victoria de {CL1} sobre {CL2} el {DAY} .",
    ),
    (
        "Shares in {CO1} rose {PCT} percent in {CI1} on {DAY} .",
        "Die Papiere von {CO1.dat} legten am {DAY} in {CI1.dat} um {PCT} Prozent zu .",
        "Las acciones de {CO1} subieron un {PCT} % el {DAY} en {CI1} .",
    ),
    (
        "{P1} will travel to {C1} next week for talks with {N1} officials .",
        "{P1} reist kommende Woche <C1@art:in {C1.acc}|nach {C1}> , um mit {N1.en} Regierungsvertretern "
        "zu sprechen .",
        "{P1} viajará a {C1} la próxima semana para reunirse con funcionarios {N1.mp} .",
    ),
    (
        "{BK1} raised interest rates by {BP} percentage points on {DAY} .",
        "{BK1.nom} hat am {DAY} die Leitzinsen um {BP} Prozentpunkte angehoben .",
        "{BK1} subió el {DAY} los tipos de interés en {BP} puntos porcentuales .",
    ),
    (
        "Police in {CI1} arrested {NUM} people after clashes between fans of {CL1} and {CL2} .",
        "Die Polizei in {CI1.dat} nahm nach Zusammenstößen zwischen Fans von {CL1.dat} und {CL2.dat} {NUM} "
        "Menschen fest .",
        "La policía de {CI1} detuvo a {NUM} personas tras los enfrentamientos entre aficionados de {CL1} y "
        "{CL2} .",
    ),
    (
        "{P1} , who was born in {CI1} , received {PZ1} in {YR} .",
        "{P1} , <P1:der|die> in {CI1.dat} geboren wurde , erhielt {YR} {PZ1.acc} .",
        "{P1} , <P1:nacido|nacida> en {CI1} , recibió {PZ1} en {YR} .",
    ),
    (
        "Thousands of people protested in {CI1} on {DAY} against the policies of {IN1} .",
        "Tausende Menschen protestierten am {DAY} in {CI1.dat} gegen die Politik {IN1.gen} .",
        "Miles de personas protestaron el {DAY} en {CI1} contra la política de {IN1} .",
    ),
    (
        "{N1} exports to {C1} fell by {PCT} percent in {MON} , the statistics office said .",
        "Die {N1.en} Ausfuhren <C1@art:in {C1.acc}|nach {C1}> sind im {MON} um {PCT} Prozent gesunken , "
        "teilte das Statistikamt mit .",
        "Las exportaciones {N1.fp} a {C1} cayeron un {PCT} % en {MON} , según la oficina de estadística .",
    ),
    (
        "{P1} has been appointed the new head of {CO1} , the company announced in {CI1} .",
        "{P1} ist <P1:zum neuen Chef|zur neuen Chefin> von {CO1.dat} ernannt worden , teilte das "
        "Unternehmen in {CI1.dat} mit .",
        "{P1} ha sido <P1:nombrado nuevo presidente|nombrada nueva presidenta> de {CO1} , informó la "
        "empresa en {CI1} .",
    ),
    (
        "{EVH1} will be held in {C1} in {FY} , {SP1} announced on {DAY} .",
        "{EVH1.nom} <EVH1@pl:werden|wird> {FY} in {C1.dat} ausgetragen , wie {SP1.nom} am {DAY} bekanntgab .",
        "{EVH1} se <EVH1@pl:celebrarán|celebrará> en {C1} en {FY} , anunció {SP1} el {DAY} .",
    ),
    (
        "{P1} finished second in {EVS1} behind {P2} of {C1} .",
        "{P1} belegte bei {EVS1.dat} den zweiten Platz hinter {P2} aus {C1.dat} .",
        "{P1} terminó <P1:segundo|segunda> en {EVS1} por detrás de {P2} , de {C1} .",
    ),
    (
        "{CO1} and {CO2} are in talks about a merger , {ME1} reported on {DAY} .",
        "{CO1.nom} und {CO2.nom} verhandeln über eine Fusion , berichtete {ME1.nom} am {DAY} .",
        "{CO1} y {CO2} negocian una fusión , informó {ME1} el {DAY} .",
    ),
    (
        "According to {ME1} , {P1} plans to leave {CL1} at the end of the season .",
        "Laut {ME1.dat} will {P1} {CL1.acc} zum Saisonende verlassen .",
        "Según {ME1} , {P1} planea dejar {CL1} al final de la temporada .",
    ),
    (
        "{P1} , <N1@vowel:an|a> {N1} citizen , was detained at the airport in {CI1} .",
        "{P1} , <P1:ein {N1.er} Staatsbürger|eine {N1.e} Staatsbürgerin> , wurde am Flughafen von "
        "{CI1.dat} festgehalten .",
        "{P1} , <P1:ciudadano {N1.ms}|ciudadana {N1.fs}> , fue <P1:detenido|detenida> en el aeropuerto de "
        "{CI1} .",
    ),
    (
        "Is {C1} ready to host {EVH1} ?",
        "<C1@pl:Sind|Ist> {C1.nom} bereit , {EVH1.acc} auszurichten ?",
        "¿ <C1@pl:Pueden|Puede> {C1} organizar {EVH1} ?",
    ),
    (
        "The match between {CL1} and {CL2} in {CI1} was postponed because of heavy snow .",
        "Das Spiel zwischen {CL1.dat} und {CL2.dat} in {CI1.dat} wurde wegen starken Schneefalls "
        "verschoben .",
        "El partido entre {CL1} y {CL2} en {CI1} fue aplazado por las fuertes nevadas .",
    ),
    (
        "{P1} told reporters in {CI1} that {C1} would not leave {MB1} .",
        "{P1} sagte vor Journalisten in {CI1.dat} , dass {C1.nom} {MB1.acc} nicht verlassen "
        "<C1@pl:würden|werde> .",
        "{P1} dijo a los periodistas en {CI1} que {C1} no <C1@pl:abandonarían|abandonaría> {MB1} .",
    ),
    (
        "Unemployment in {R1} fell to {PCT} percent in {MON} .",
        "Die Arbeitslosigkeit in {R1.dat} sank im {MON} auf {PCT} Prozent .",
        "El desempleo en {R1} bajó al {PCT} % en {MON} .",
    ),
    (
        "{N1} tourists are returning to {R1} after two difficult years .",
        "{N1.e} Touristen kehren nach zwei schwierigen Jahren <R1@art:in {R1.acc}|nach {R1}> zurück .",
        "Los turistas {N1.mp} vuelven a {R1} tras dos años difíciles .",
    ),
    (
        "{P1} has signed a three-year contract with {CL1} , the club said .",
        "{P1} hat bei {CL1.dat} einen Dreijahresvertrag unterschrieben , teilte der Verein mit .",
        "{P1} ha firmado un contrato de tres años con {CL1} , informó el club .",
    ),
    (
        "The {N1} and {N2} foreign ministers met in {CI1} on {DAY} to discuss the crisis .",
        "Der {N1.e} und der {N2.e} Außenminister trafen sich am {DAY} in {CI1.dat} , um über die Krise zu "
        "beraten .",
        "Los ministros de Exteriores {N1.ms} y {N2.ms} se reunieron el {DAY} en {CI1} para hablar de la "
        "crisis .",
    ),
    (
        "{CO1} reported a net profit of {BIL} billion euros for {YR} .",
        "{CO1.nom} meldete für {YR} einen Nettogewinn von {BIL} Milliarden Euro .",
        "{CO1} registró un beneficio neto de {BIL} millones de euros en {YR} .",
    ),
    (
        "Flights between {CI1} and {CI2} were cancelled on {DAY} after a strike at {AIR1} .",
        "Flüge zwischen {CI1.dat} und {CI2.dat} wurden am {DAY} nach einem Streik bei {AIR1.dat} "
        "gestrichen .",
        "Los vuelos entre {CI1} y {CI2} fueron cancelados el {DAY} tras una huelga en {AIR1} .",
    ),
    (
        "{P1} said the {N1} team had played well despite the defeat .",
        "{P1} sagte , die {N1.e} Mannschaft habe trotz der Niederlage gut gespielt .",
        "{P1} afirmó que la selección {N1.fs} había jugado bien pese a la derrota .",
    ),
    (
        "In {YR} , {C1} and {C2} signed a trade agreement in {CI1} .",
        "{YR} unterzeichneten {C1.nom} und {C2.nom} in {CI1.dat} ein Handelsabkommen .",
        "En {YR} , {C1} y {C2} firmaron un acuerdo comercial en {CI1} .",
    ),
    (
        "{P1} , the coach of {CL1} , was sacked on {DAY} after five defeats in a row .",
        "{P1} , <P1:Trainer|Trainerin> von {CL1.dat} , wurde am {DAY} nach fünf Niederlagen in Folge "
        "entlassen .",
        "{P1} , <P1:entrenador|entrenadora> de {CL1} , fue <P1:destituido|destituida> el {DAY} tras cinco "
        "derrotas consecutivas .",
    ),
    (
        "{EV1} attracted more than {K} visitors this year .",
        "{EV1.nom} <EV1@pl:zogen|zog> in diesem Jahr mehr als {K} Besucher an .",
        "{EV1} <EV1@pl:atrajeron|atrajo> este año a más de {K} visitantes .",
    ),
    (
        "{IND1} will build a new factory near {CI1} , creating {K} jobs .",
        "{IND1.nom} will in der Nähe von {CI1.dat} ein neues Werk bauen und {K} Arbeitsplätze schaffen .",
        "{IND1} construirá una nueva fábrica cerca de {CI1} , lo que creará {K} puestos de trabajo .",
    ),
    (
        "The {N1} president {P1} arrived in {C1} on {DAY} for a two-day visit .",
        "<P1:Der {N1.e} Präsident|Die {N1.e} Präsidentin> {P1} traf am {DAY} zu einem zweitägigen Besuch in "
        "{C1.dat} ein .",
        "<P1:El presidente {N1.ms}|La presidenta {N1.fs}> , {P1} , llegó el {DAY} a {C1} para una visita de "
        "dos días .",
    ),
    (
        "Negotiations between {MB1} and {C1} broke down late on {DAY} .",
        "Die Verhandlungen zwischen {MB1.dat} und {C1.dat} sind am späten {DAY.abend} gescheitert .",
        "Las negociaciones entre {MB1} y {C1} fracasaron el {DAY} por la noche .",
    ),
    (
        "Why did {CO1} pull out of {C1} ?",
        "Warum hat sich {CO1.nom} aus {C1.dat} zurückgezogen ?",
        "¿ Por qué se retiró {CO1} de {C1} ?",
    ),
    (
        "A goal by {P1} in the final minute gave {CL1} victory over {CL2} .",
        "Ein Tor von {P1} in der letzten Minute bescherte {CL1.dat} den Sieg gegen {CL2.acc} .",
        "Un gol de {P1} en el último minuto dio a {CL1} la victoria sobre {CL2} .",
    ),
    (
        "In {C1} , {PR1} will cost at least {K} euros .",
        "In {C1.dat} wird {PR1.nom} mindestens {K} Euro kosten .",
        "En {C1} , {PR1} costará al menos {K} euros .",
    ),
    (
        "{PR1} was unveiled at a trade fair in {CI1} on {DAY} .",
        "{PR1.nom} wurde am {DAY} auf einer Messe in {CI1.dat} vorgestellt .",
        "{PR1} se presentó el {DAY} en una feria en {CI1} .",
    ),
    (
        "The summit of {DIP1} in {CI1} ended without agreement on {DAY} .",
        "Der Gipfel {DIP1.gen} in {CI1.dat} endete am {DAY} ohne Einigung .",
        "La cumbre de {DIP1} en {CI1} terminó el {DAY} sin acuerdo .",
    ),
    (
        "{P1} , {AGE} , has announced <P1:his|her> retirement from international football .",
        "{P1} , {AGE} , hat <P1:seinen|ihren> Rücktritt aus der Nationalmannschaft bekanntgegeben .",
        "{P1} , de {AGE} años , ha anunciado su retirada de la selección .",
    ),
    (
        "{N1} soldiers will remain in {C1} until {FY} , {P1} said .",
        "{N1.e} Soldaten sollen bis {FY} in {C1.dat} bleiben , sagte {P1} .",
        "Los soldados {N1.mp} permanecerán en {C1} hasta {FY} , dijo {P1} .",
    ),
    (
        "Heavy rain caused flooding in parts of {R1} and {R2} over the weekend .",
        "Starker Regen hat am Wochenende in Teilen {R1.gen} und {R2.gen} Überschwemmungen verursacht .",
        "Las fuertes lluvias provocaron inundaciones en partes de {R1} y {R2} durante el fin de semana .",
    ),
    (
        "Will {BK1} cut interest rates again in {MON} ?",
        "Wird {BK1.nom} die Zinsen im {MON} erneut senken ?",
        "¿ Bajará {BK1} de nuevo los tipos de interés en {MON} ?",
    ),
    (
        "{P1} and {P2} will face each other in the final in {CI1} on {DAY} .",
        "{P1} und {P2} treffen am {DAY} im Finale in {CI1.dat} aufeinander .",
        "{P1} y {P2} se enfrentarán en la final el {DAY} en {CI1} .",
    ),
    (
        "Officials from {MB1} will visit {R1} next month to assess the damage .",
        "Vertreter {MB1.gen} werden im kommenden Monat {R1.acc} besuchen , um die Schäden zu begutachten .",
        "Representantes de {MB1} visitarán {R1} el próximo mes para evaluar los daños .",
    ),
    (
        "The {N1} striker joined {CL1} from {CL2} for a record fee .",
        "Der {N1.e} Stürmer wechselte für eine Rekordablöse von {CL2.dat} zu {CL1.dat} .",
        "El delantero {N1.ms} fichó por {CL1} procedente de {CL2} por un traspaso récord .",
    ),
    (
        "{P1} has won {EVW1} for the third time .",
        "{P1} hat {EVW1.acc} zum dritten Mal gewonnen .",
        "{P1} ha ganado {EVW1} por tercera vez .",
    ),
    (
        "Demonstrators gathered outside the {N1} embassy in {CI1} on {DAY} .",
        "Demonstranten versammelten sich am {DAY} vor der {N1.en} Botschaft in {CI1.dat} .",
        "Los manifestantes se concentraron el {DAY} frente a la embajada {N1.fs} en {CI1} .",
    ),
    (
        "The {N1} economy grew by {PCT} percent in the first quarter , more than expected .",
        "Die {N1.e} Wirtschaft ist im ersten Quartal um {PCT} Prozent gewachsen und damit stärker als "
        "erwartet .",
        "La economía {N1.fs} creció un {PCT} % en el primer trimestre , más de lo esperado .",
    ),
    (
        '" We will not accept these conditions , " {P1} told {ME1} in {CI1} .',
        "„ Wir werden diese Bedingungen nicht akzeptieren “ , sagte {P1} gegenüber {ME1.dat} in {CI1.dat} .",
        "« No aceptaremos estas condiciones » , dijo {P1} a {ME1} en {CI1} .",
    ),
    (
        "{CO1} shares fell sharply after the company cut its forecast for {FY} .",
        "Die Aktien von {CO1.dat} brachen ein , nachdem das Unternehmen seine Prognose für {FY} gesenkt "
        "hatte .",
        "Las acciones de {CO1} se desplomaron después de que la empresa rebajara su previsión para {FY} .",
    ),
    (
        "Athletes from more than {NUM} countries will compete in {EVS1} in {FY} .",
        "{FY} werden an {EVS1.dat} Sportler aus mehr als {NUM} Ländern teilnehmen .",
        "Deportistas de más de {NUM} países competirán en {EVS1} en {FY} .",
    ),
    (
        "{P1} was elected mayor of {CI1} with {PCTB} percent of the vote .",
        "{P1} wurde mit {PCTB} Prozent der Stimmen <P1:zum Bürgermeister|zur Bürgermeisterin> von {CI1.dat} "
        "gewählt .",
        "{P1} fue <P1:elegido alcalde|elegida alcaldesa> de {CI1} con el {PCTB} % de los votos .",
    ),
    (
        "Tickets for the final of {EVF1} sold out within {NUM} minutes .",
        "Die Karten für das Finale {EVF1.gen} waren innerhalb von {NUM} Minuten ausverkauft .",
        "Las entradas para la final de {EVF1} se agotaron en {NUM} minutos .",
    ),
    (
        "{P1} , who has played for {CL1} since {YR} , will miss the game against {CL2} through injury .",
        "{P1} , <P1:der|die> seit {YR} für {CL1.acc} spielt , fällt für das Spiel gegen {CL2.acc} verletzt "
        "aus .",
        "{P1} , que juega en {CL1} desde {YR} , se perderá por lesión el partido contra {CL2} .",
    ),
    (
        "{AID1} warned on {DAY} that the number of cases in {C1} was rising .",
        "{AID1.nom} warnte am {DAY} , dass die Zahl der Fälle in {C1.dat} steige .",
        "{AID1} advirtió el {DAY} de que el número de casos en {C1} estaba aumentando .",
    ),
    (
        "{AID1} sent {NUM} doctors to {R1} after the earthquake .",
        "{AID1.nom} schickte nach dem Erdbeben {NUM} Ärzte <R1@art:in {R1.acc}|nach {R1}> .",
        "{AID1} envió {NUM} médicos a {R1} tras el terremoto .",
    ),
    (
        "Former {N1} champion {P1} has died in {CI1} at the age of {OLD} .",
        "<P1:Der frühere {N1.e} Meister|Die frühere {N1.e} Meisterin> {P1} ist im Alter von {OLD} Jahren in "
        "{CI1.dat} gestorben .",
        "<P1:El excampeón {N1.ms}|La excampeona {N1.fs}> {P1} ha muerto en {CI1} a los {OLD} años .",
    ),
    (
        "The {N1} Foreign Ministry summoned the ambassador of {C1} on {DAY} .",
        "Das {N1.e} Außenministerium bestellte am {DAY} den Botschafter {C1.gen} ein .",
        "El Ministerio de Asuntos Exteriores {N1.ms} convocó el {DAY} al embajador de {C1} .",
    ),
    (
        "Can {CL1} still win the league after losing to {CL2} ?",
        "Kann {CL1.nom} nach der Niederlage gegen {CL2.acc} noch Meister werden ?",
        "¿ Puede {CL1} ganar todavía la liga tras perder contra {CL2} ?",
    ),
    (
        "{CO1} is to invest {BIL} billion euros in {R1} over the next five years .",
        "{CO1.nom} will in den nächsten fünf Jahren {BIL} Milliarden Euro in {R1.acc} investieren .",
        "{CO1} invertirá {BIL} millones de euros en {R1} durante los próximos cinco años .",
    ),
    (
        "Snow closed several roads in {R1} ; the airport in {CI1} was also affected .",
        "Schnee legte mehrere Straßen in {R1.dat} lahm ; auch der Flughafen von {CI1.dat} war betroffen .",
        "La nieve cerró varias carreteras en {R1} ; el aeropuerto de {CI1} también se vio afectado .",
    ),
    (
        "{P1} ( {CL1.bare} ) and {P2} ( {CL2.bare} ) share the lead with {NUM} goals each .",
        "{P1} ( {CL1.bare} ) und {P2} ( {CL2.bare} ) teilen sich mit je {NUM} Toren die Führung .",
        "{P1} ( {CL1.bare} ) y {P2} ( {CL2.bare} ) comparten el liderato con {NUM} goles cada uno .",
    ),
    (
        "Talks on a new climate agreement will resume in {CI1} in {MON} , according to {ME1} .",
        "Die Gespräche über ein neues Klimaabkommen sollen im {MON} in {CI1.dat} fortgesetzt werden , "
        "berichtete {ME1.nom} .",
        "Las conversaciones sobre un nuevo acuerdo climático se reanudarán en {MON} en {CI1} , según {ME1} .",
    ),
    (
        "Inflation in {C1} rose to {PCT} percent in {MON} , the highest level since {YR} .",
        "Die Inflation in {C1.dat} stieg im {MON} auf {PCT} Prozent und erreichte damit den höchsten Stand "
        "seit {YR} .",
        "La inflación en {C1} subió al {PCT} % en {MON} , el nivel más alto desde {YR} .",
    ),
    (
        "{P1} resigned as chief executive of {CO1} on {DAY} , citing personal reasons .",
        "{P1} trat am {DAY} aus persönlichen Gründen als <P1:Vorstandschef|Vorstandschefin> von {CO1.dat} "
        "zurück .",
        "{P1} dimitió el {DAY} como <P1:consejero delegado|consejera delegada> de {CO1} por motivos "
        "personales .",
    ),
    (
        "{P1} started from pole position and won {GP1} ahead of {P2} .",
        "{P1} startete von der Pole-Position und gewann {GP1.acc} vor {P2} .",
        "{P1} salió desde la pole y ganó {GP1} por delante de {P2} .",
    ),
    (
        "The {N1} parliament approved the budget for {FY} by a narrow margin .",
        "Das {N1.e} Parlament hat den Haushalt für {FY} mit knapper Mehrheit gebilligt .",
        "El Parlamento {N1.ms} aprobó por un estrecho margen los presupuestos de {FY} .",
    ),
    (
        "{P1} , the {N1} ambassador to {DIP1} , called for an immediate ceasefire .",
        "{P1} , <P1:der {N1.e} Botschafter|die {N1.e} Botschafterin> bei {DIP1.dat} , forderte eine "
        "sofortige Waffenruhe .",
        "{P1} , <P1:embajador {N1.ms}|embajadora {N1.fs}> ante {DIP1} , pidió un alto el fuego inmediato .",
    ),
    (
        "A spokesman for {CO1} declined to comment on the report by {ME1} .",
        "Ein Sprecher von {CO1.dat} wollte den Bericht von {ME1.dat} nicht kommentieren .",
        "Un portavoz de {CO1} declinó comentar la información de {ME1} .",
    ),
    (
        "{C1} beat {C2} in a friendly in {CI1} on {DAY} .",
        "{C1.nom} <C1@pl:haben|hat> am {DAY} ein Testspiel in {CI1.dat} gegen {C2.acc} gewonnen .",
        "{C1} <C1@pl:vencieron|venció> a {C2} en un amistoso disputado el {DAY} en {CI1} .",
    ),
    (
        "Police said {NUM} people were injured when a bus crashed near {CI1} on {DAY} .",
        "Nach Angaben der Polizei wurden am {DAY} bei einem Busunfall in der Nähe von {CI1.dat} {NUM} "
        "Menschen verletzt .",
        "Según la policía , {NUM} personas resultaron heridas el {DAY} en un accidente de autobús cerca de "
        "{CI1} .",
    ),
    (
        "{P1} will present <P1:his|her> new film at {FILM1} in {MON} .",
        "{P1} wird <P1:seinen|ihren> neuen Film im {MON} bei {FILM1.dat} vorstellen .",
        "{P1} presentará su nueva película en {FILM1} en {MON} .",
    ),
    (
        "{CL1} beat {CL2} in {CI1} on {DAY} .",
        "{CL1.nom} schlug {CL2.acc} am {DAY} in {CI1.dat} .",
        "{CL1} ganó a {CL2} el {DAY} en {CI1} .",
    ),
    (
        "Where will {EVH1} take place in {FY} ?",
        "Wo <EVH1@pl:finden|findet> {EVH1.nom} {FY} statt ?",
        "¿ Dónde se <EVH1@pl:celebrarán|celebrará> {EVH1} en {FY} ?",
    ),
    (
        "{P1} was born in {CI1} in {BYR} .",
        "{P1} wurde {BYR} in {CI1.dat} geboren .",
        "{P1} nació en {CI1} en {BYR} .",
    ),
    (
        "{PA1} approved the new law on {DAY} with a large majority .",
        "{PA1.nom} hat das neue Gesetz am {DAY} mit großer Mehrheit verabschiedet .",
        "{PA1} aprobó el {DAY} la nueva ley por amplia mayoría .",
    ),
    (
        "Who will succeed {P1} as head of {IN1} ?",
        "Wer wird {P1} an der Spitze {IN1.gen} nachfolgen ?",
        "¿ Quién sucederá a {P1} al frente de {IN1} ?",
    ),
    (
        "{CI1} and {CI2} are bidding to host {EVH1} in {FY} .",
        "{CI1} und {CI2} bewerben sich um die Ausrichtung {EVH1.gen} {FY} .",
        "{CI1} y {CI2} aspiran a organizar {EVH1} de {FY} .",
    ),
    (
        "Exports of {N1} cars to {C1} have doubled since {YR} .",
        "Die Ausfuhren {N1.er} Autos <C1@art:in {C1.acc}|nach {C1}> haben sich seit {YR} verdoppelt .",
        "Las exportaciones de coches {N1.mp} a {C1} se han duplicado desde {YR} .",
    ),
    (
        "<N1@vowel:An|A> {N1} court sentenced {P1} to {NUM} years in prison on {DAY} .",
        "Ein {N1.es} Gericht verurteilte {P1} am {DAY} zu {NUM} Jahren Haft .",
        "Un tribunal {N1.ms} condenó el {DAY} a {P1} a {NUM} años de prisión .",
    ),
    (
        "Fans of {CL1} celebrated in the streets of {CI1} until late at night .",
        "Die Fans von {CL1.dat} feierten bis spät in die Nacht auf den Straßen von {CI1.dat} .",
        "Los aficionados de {CL1} celebraron hasta altas horas de la noche en las calles de {CI1} .",
    ),
    (
        "{BK1} left interest rates unchanged on {DAY} , as expected .",
        "{BK1.nom} hat die Leitzinsen am {DAY} wie erwartet unverändert gelassen .",
        "{BK1} mantuvo el {DAY} los tipos de interés sin cambios , como se esperaba .",
    ),
    (
        "How much will the {N1} government spend on defence in {FY} ?",
        "Wie viel wird die {N1.e} Regierung {FY} für Verteidigung ausgeben ?",
        "¿ Cuánto gastará el Gobierno {N1.ms} en defensa en {FY} ?",
    ),
    (
        "{P1} met {P2} in {CI1} on {DAY} to discuss the future of {IN1} .",
        "In {CI1.dat} traf sich {P1} am {DAY} mit {P2} , um über die Zukunft {IN1.gen} zu sprechen .",
        "{P1} se reunió el {DAY} en {CI1} con {P2} para hablar del futuro de {IN1} .",
    ),
    (
        "{CI1} mayor {P1} has opened a new museum of {N1} art .",
        "{P1} , <P1:Bürgermeister|Bürgermeisterin> von {CI1.dat} , hat ein neues Museum für {N1.e} Kunst "
        "eröffnet .",
        "<P1:El alcalde|La alcaldesa> de {CI1} , {P1} , ha inaugurado un nuevo museo de arte {N1.ms} .",
    ),
    (
        "Workers at the {CI1} plant of {IND1} went on strike on {DAY} .",
        "Die Beschäftigten im Werk von {IND1.dat} in {CI1.dat} traten am {DAY} in den Streik .",
        "Los trabajadores de la planta de {IND1} en {CI1} se declararon en huelga el {DAY} .",
    ),
    (
        "{EVW1} winner {P1} will not defend <P1:his|her> title in {FY} .",
        "{P1} , <P1:Sieger|Siegerin> {EVW1.gen} , wird <P1:seinen|ihren> Titel {FY} nicht verteidigen .",
        "<P1:El ganador|La ganadora> de {EVW1} , {P1} , no defenderá su título en {FY} .",
    ),
    (
        "{P1} ( {AGE} ) has left {CO1} to join {CO2} .",
        "{P1} ( {AGE} ) hat {CO1.acc} verlassen und wechselt zu {CO2.dat} .",
        "{P1} ( {AGE} ) ha dejado {CO1} para incorporarse a {CO2} .",
    ),
]

# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

SLOT_RE = re.compile(r"^\{([A-Z]+)(\d*)((?:\.[a-z]+)*)\}$")
ANY_SLOT_RE = re.compile(r"\{([A-Z]+)(\d*)((?:\.[a-z]+)*)\}")
ALT_RE = re.compile(r"<([A-Z]+\d*)(?:@([a-z]+))?:([^|<>]*)\|([^|<>]*)>")
CONTRACTIONS = {
    "de": {
        "in": {"dem": "im", "das": "ins"},
        "an": {"dem": "am", "das": "ans"},
        "von": {"dem": "vom"},
        "zu": {"dem": "zum", "der": "zur"},
        "bei": {"dem": "beim"},
    },
    "es": {"de": {"el": "del"}, "a": {"el": "al"}},
    "en": {},
}


@dataclass(frozen=True)
class Slot:
    """A parsed slot token: ``key`` ("P1", "DAY") and its form parts."""

    kind: str
    key: str
    forms: tuple[str, ...]

    @classmethod
    def parse(cls, match: re.Match[str]) -> Slot:
        kind, num, forms = match.groups()
        return cls(kind, kind + num, tuple(f for f in forms.split(".") if f))


@dataclass
class Template:
    """One parallel template; validated on construction."""

    index: int
    text: dict[str, str]
    entity_slots: dict[str, str] = field(default_factory=dict)  # key -> kind
    value_slots: dict[str, str] = field(default_factory=dict)
    uses: dict[str, set[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)  # key -> {(lang, forms)}

    def __post_init__(self) -> None:
        keys_by_lang = {}
        for lang in LANGS:
            keys = set()
            for match in ANY_SLOT_RE.finditer(self.text[lang]):
                slot = Slot.parse(match)
                if slot.kind in VALUES:
                    self.value_slots[slot.key] = slot.kind
                elif slot.kind in KIND_NAMES:
                    self.entity_slots[slot.key] = slot.kind
                    self.uses.setdefault(slot.key, set()).add((lang, slot.forms))
                else:
                    raise ValueError(f"template {self.index} ({lang}): unknown slot kind {slot.kind!r}")
                keys.add(slot.key)
            for match in ALT_RE.finditer(self.text[lang]):
                if match.group(1) not in keys:
                    raise ValueError(
                        f"template {self.index} ({lang}): condition on absent slot {match.group(1)}"
                    )
            keys_by_lang[lang] = keys
        if len({frozenset(k) for k in keys_by_lang.values()}) != 1:
            raise ValueError(f"template {self.index}: the languages use different slots {keys_by_lang}")


@dataclass
class Sentence:
    """One rendered sentence: tokens, IOB2 tags and entity mentions ``(slot key, start, end, label)``."""

    tokens: list[str]
    tags: list[str]
    mentions: list[tuple[str, int, int, str]]


@dataclass
class Instance:
    """A template filled once, rendered in every language."""

    template: int
    fill: dict[str, str]
    sentences: dict[str, Sentence]


ENTITY_BY_KEY: dict[str, Entity] = {}
ENTITIES_BY_KIND: dict[str, list[Entity]] = {}


def _index_entities() -> None:
    for ent in ENTITIES:
        if ent.key in ENTITY_BY_KEY:
            raise ValueError(f"duplicate entity key {ent.key!r}")
        ENTITY_BY_KEY[ent.key] = ent
        for kind in ent.kinds:
            ENTITIES_BY_KIND.setdefault(kind, []).append(ent)
    for ent in NATIONALITIES:
        if ent.home not in ENTITY_BY_KEY:
            raise ValueError(f"nationality {ent.key!r}: unknown home country {ent.home!r}")


_index_entities()


def realise(ent: Entity, lang: str, forms: tuple[str, ...]) -> tuple[list[str], list[str]] | None:
    """``(article tokens, entity tokens)`` of ``ent`` in ``lang`` with ``forms``; None if unsupported."""
    table = ent.forms[lang]
    bare = "bare" in forms
    if ent.label == "PER":
        return [], table["last" if "last" in forms else ""].split()
    if ent.home is not None:  # nationality adjective
        form = next((f for f in forms if f in table), "")
        if lang != "en" and form == "":
            return None
        return [], table[form].split()
    if lang == "de":
        case = next((f for f in forms if f in DE_CASES), "nom")
        if case not in table:
            return None
        art = [] if bare or ent.art["de"] is None else [DE_ARTICLES[ent.art["de"]][case]]
        return art, table[case].split()
    art_word = ent.art[lang]
    return ([] if bare or art_word is None else [art_word]), table[""].split()


def supports(ent: Entity, uses: set[tuple[str, tuple[str, ...]]]) -> bool:
    return all(realise(ent, lang, forms) is not None for lang, forms in uses)


def _condition(ent: Entity, lang: str, cond: str) -> bool:
    if cond == "m":
        if ent.gender is None:
            raise ValueError(f"gender condition on non-person {ent.key!r}")
        return ent.gender == "m"
    if cond == "art":
        return ent.art[lang] is not None
    if cond == "pl":
        return ent.plural[lang]
    if cond == "vowel":
        real = realise(ent, lang, ())
        assert real is not None
        return (real[0] + real[1])[0][0].lower() in "aeiou"
    raise ValueError(f"unknown condition {cond!r}")


@dataclass
class _Token:
    text: str
    slot: str | None = None  # the entity slot this token belongs to (None: O)
    label: str | None = None
    begins: bool = False  # first token of its entity
    article: bool = False  # an article a slot emitted (may merge with a preposition)
    capitalisable: bool = True  # may be upper-cased at the start of the sentence


def render(template: Template, fill: dict[str, str], values: dict[str, int], lang: str) -> Sentence:
    """Render ``template`` in ``lang`` with entity ``fill`` (slot key -> entity key) and value choices."""
    text = ALT_RE.sub(
        lambda m: (
            m.group(3) if _condition(ENTITY_BY_KEY[fill[m.group(1)]], lang, m.group(2) or "m") else m.group(4)
        ),
        template.text[lang],
    )
    toks: list[_Token] = []
    for raw in text.split():
        match = SLOT_RE.match(raw)
        if match is None:
            toks.append(_Token(raw))
            continue
        slot = Slot.parse(match)
        if slot.kind in VALUES:
            row = VALUES[slot.kind][values[slot.key]][lang]
            form = next((f for f in slot.forms if f in row), "")
            toks.extend(_Token(t) for t in row[form].split())
            continue
        ent = ENTITY_BY_KEY[fill[slot.key]]
        real = realise(ent, lang, slot.forms)
        if real is None:
            raise ValueError(f"{ent.key!r} has no form {slot.forms} in {lang}")
        art, words = real
        toks.extend(_Token(t, article=True) for t in art)
        # names keep their spelling at the sentence start ("iPhone"); adjectives do not ("Deutsche")
        toks.extend(
            _Token(t, slot.key, ent.label, begins=k == 0, capitalisable=ent.home is not None)
            for k, t in enumerate(words)
        )
    # merge preposition + article (German "in dem" -> "im", Spanish "de el" -> "del")
    merged_toks: list[_Token] = []
    for tok in toks:
        prev = merged_toks[-1] if merged_toks else None
        merged = None
        if tok.article and prev is not None and prev.label is None:
            merged = CONTRACTIONS[lang].get(prev.text.lower(), {}).get(tok.text)
        if merged is not None and prev is not None:
            prev.text = merged.capitalize() if prev.text[0].isupper() else merged
        else:
            merged_toks.append(tok)
    toks = merged_toks
    # capitalise the first word (after opening punctuation such as "¿")
    first = next(t for t in toks if any(c.isalnum() for c in t.text))
    if first.text.islower() and first.capitalisable:
        first.text = first.text[0].upper() + first.text[1:]
    tags = ["O" if t.label is None else ("B-" if t.begins else "I-") + t.label for t in toks]
    mentions = []
    for k, t in enumerate(toks):
        if t.begins:
            end = k + 1
            while end < len(toks) and toks[end].label is not None and not toks[end].begins:
                end += 1
            mentions.append((t.slot or "", k, end, t.label or ""))
    return Sentence([t.text for t in toks], tags, mentions)


TEMPLATE_OBJS = [Template(i, dict(zip(LANGS, t, strict=True))) for i, t in enumerate(TEMPLATES)]


def _draw_fill(template: Template, rng: random.Random) -> dict[str, str] | None:
    fill: dict[str, str] = {}
    used_surface: set[str] = set()
    for key in sorted(template.entity_slots):
        pool = [
            e
            for e in ENTITIES_BY_KIND[template.entity_slots[key]]
            if supports(e, template.uses[key]) and e.forms["en"][""] not in used_surface
        ]
        if not pool:
            return None
        ent = rng.choice(pool)
        fill[key] = ent.key
        used_surface.add(ent.forms["en"][""])
    chosen = [ENTITY_BY_KEY[k] for k in fill.values()]
    if any(e.home is not None and e.home in fill.values() for e in chosen):
        return None  # "German exports to Germany"
    return fill


def instantiate(template: Template, rng: random.Random, max_tries: int = 200) -> Instance:
    """Fill ``template`` with random entities and values and render it in every language."""
    for _ in range(max_tries):
        fill = _draw_fill(template, rng)
        values = {key: rng.randrange(len(VALUES[kind])) for key, kind in sorted(template.value_slots.items())}
        if fill is None:
            continue
        sentences = {lang: render(template, fill, values, lang) for lang in LANGS}
        if all(MIN_LEN <= len(s.tokens) <= MAX_LEN for s in sentences.values()):
            return Instance(template.index, fill, sentences)
    raise ValueError(f"template {template.index}: no valid fill in {max_tries} tries")


# --------------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------------

_DETOK = {lang: MosesDetokenizer(lang) for lang in LANGS}
_TOK = {lang: MosesTokenizer(lang) for lang in LANGS}


def detokenize(tokens: Sequence[str], lang: str) -> str:
    return _DETOK[lang].detokenize(list(tokens))


def check_round_trip(tokens: Sequence[str], lang: str) -> str:
    """Detokenise; raise ValueError unless Moses tokenises the text back into ``tokens``."""
    text = detokenize(tokens, lang)
    back = _TOK[lang].tokenize(text, escape=False)
    if back != list(tokens):
        raise ValueError(f"Moses round trip fails for {lang}: {list(tokens)} -> {text!r} -> {back}")
    return text


@dataclass
class Corpus:
    train: list[Instance]
    dev: list[Instance]
    test: list[Instance]
    parallel: dict[str, list[Instance]]


def build_corpus(seed: int = SEED) -> Corpus:
    """Draw the labelled splits and the unlabelled parallel text (all sentences distinct in English)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    queue: list[int] = []

    def draw(n: int) -> list[Instance]:
        out: list[Instance] = []
        while len(out) < n:
            if not queue:  # every template once per round, in random order
                queue.extend(range(len(TEMPLATE_OBJS)))
                rng.shuffle(queue)
            inst = instantiate(TEMPLATE_OBJS[queue.pop()], rng)
            key = detokenize(inst.sentences["en"].tokens, "en")
            if key in seen:
                continue
            for lang in LANGS:
                check_round_trip(inst.sentences[lang].tokens, lang)
            seen.add(key)
            out.append(inst)
        return out

    labelled = draw(N_TRAIN + N_DEV + N_TEST)
    train, dev, test = labelled[:N_TRAIN], labelled[N_TRAIN : N_TRAIN + N_DEV], labelled[N_TRAIN + N_DEV :]
    parallel = {lang: draw(N_PARALLEL) for lang in TARGETS}
    return Corpus(train, dev, test, parallel)


def _tsv(sentences: Sequence[Sentence]) -> str:
    blocks = ["".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, s.tags, strict=True)) for s in sentences]
    return "\n".join(blocks)


def _lines(texts: Sequence[str]) -> str:
    return "".join(t + "\n" for t in texts)


def corpus_files(corpus: Corpus) -> dict[str, str]:
    """File name -> content of every data file."""
    files: dict[str, str] = {}

    def side(insts: Sequence[Instance], lang: str) -> list[Sentence]:
        return [inst.sentences[lang] for inst in insts]

    for split in ("train", "dev", "test"):
        files[f"en.{split}.tsv"] = _tsv(side(getattr(corpus, split), "en"))
    for lang in TARGETS:
        files[f"{lang}.dev.tsv"] = _tsv(side(corpus.dev, lang))
        files[f"{lang}.test.tsv"] = _tsv(side(corpus.test, lang))
        files[f"en-{lang}.gold.en.tsv"] = _tsv(side(corpus.train, "en"))
        files[f"en-{lang}.gold.{lang}.tsv"] = _tsv(side(corpus.train, lang))
        sources = [detokenize(inst.sentences["en"].tokens, "en") for inst in corpus.train]
        targets = [detokenize(inst.sentences[lang].tokens, lang) for inst in corpus.train]
        files[f"translations.en-{lang}.tsv"] = _lines(
            [f"{s}\t{t}" for s, t in zip(sources, targets, strict=True)]
        )
        for side_lang in ("en", lang):
            files[f"parallel.en-{lang}.{side_lang}.txt"] = _lines(
                [detokenize(inst.sentences[side_lang].tokens, side_lang) for inst in corpus.parallel[lang]]
            )
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------------------------------
# Statistics and README
# --------------------------------------------------------------------------------------------------


def _count(sentences: Sequence[Sentence]) -> dict[str, int]:
    labels = Counter(m[3] for s in sentences for m in s.mentions)
    return {
        "sentences": len(sentences),
        "tokens": sum(len(s.tokens) for s in sentences),
        "entities": sum(labels.values()),
        **{lab: labels[lab] for lab in LABELS},
    }


def projection_difficulty(insts: Sequence[Instance], lang: str) -> dict[str, float | int]:
    """How far the target entities are from a copy of the source entities (per aligned entity pair)."""
    pairs = n_len = n_text = n_order = n_sent_order = 0
    for inst in insts:
        src, tgt = inst.sentences["en"], inst.sentences[lang]
        s_by = {m[0]: m for m in src.mentions}
        t_by = {m[0]: m for m in tgt.mentions}
        for key, (_, s0, s1, _) in s_by.items():
            _, t0, t1, _ = t_by[key]
            pairs += 1
            n_len += (s1 - s0) != (t1 - t0)
            n_text += src.tokens[s0:s1] != tgt.tokens[t0:t1]
        src_order = [m[0] for m in sorted(src.mentions, key=lambda m: m[1])]
        tgt_order = [m[0] for m in sorted(tgt.mentions, key=lambda m: m[1])]
        n_sent_order += src_order != tgt_order
        n_order += sum(a != b for a, b in zip(src_order, tgt_order, strict=True))
    return {
        "entity_pairs": pairs,
        "length_differs": n_len,
        "length_differs_pct": round(100 * n_len / pairs, 1),
        "text_differs_pct": round(100 * n_text / pairs, 1),
        "sentences_reordered_pct": round(100 * n_sent_order / len(insts), 1),
    }


def statistics(corpus: Corpus) -> dict:
    per_file = {}
    for split in ("train", "dev", "test"):
        insts = getattr(corpus, split)
        per_file[f"en.{split}.tsv"] = _count([i.sentences["en"] for i in insts])
    for lang in TARGETS:
        per_file[f"{lang}.dev.tsv"] = _count([i.sentences[lang] for i in corpus.dev])
        per_file[f"{lang}.test.tsv"] = _count([i.sentences[lang] for i in corpus.test])
        per_file[f"en-{lang}.gold.{lang}.tsv"] = _count([i.sentences[lang] for i in corpus.train])
        for side_lang in ("en", lang):
            sents = [i.sentences[side_lang] for i in corpus.parallel[lang]]
            per_file[f"parallel.en-{lang}.{side_lang}.txt"] = {
                "sentences": len(sents),
                "tokens": sum(len(s.tokens) for s in sents),
            }
    labelled = corpus.train + corpus.dev + corpus.test
    used = {k for inst in labelled for k in inst.fill.values()}
    return {
        "templates": len(TEMPLATE_OBJS),
        "gazetteer_entities": len(ENTITIES),
        "distinct_entities_in_labelled_data": len(used),
        "distinct_entities_by_label": dict(Counter(ENTITY_BY_KEY[k].label for k in sorted(used))),
        "files": per_file,
        "projection_difficulty_train": {lang: projection_difficulty(corpus.train, lang) for lang in TARGETS},
    }


README_HEAD = """\
# Demo corpus (generated -- edit `generate_demo.py`, not this file)

The data `snakemake --cores 2` runs on by default (`config/config.yaml`): a small, synthetic,
CoNLL-style NER corpus in English with gold-labelled German and Spanish translations, so the
whole workflow -- translate, align, project, projection F1, fine-tune, zero-shot evaluation --
runs in minutes on a laptop CPU with nothing to download.

## How it was made

`generate_demo.py` holds {templates} hand-written parallel sentence templates (English / German /
Spanish, news style) with entity slots, and hand-written gazetteers of {entities} entities with
their translations (persons, companies, clubs, institutions, countries, cities, regions,
nationality adjectives, events, prizes, products). Each sentence is one template filled with random
entities and values (seed {seed}); the gold tags on every side come from the slots, so they are
exact. Person names are the same in every language; most other names change: length
("European Central Bank" -> "Europäische Zentralbank" / "Banco Central Europeo", "World Cup" ->
"Weltmeisterschaft" / "Copa del Mundo", "Czech Republic" -> "Tschechien"), case ("der Europäischen
Zentralbank", "Deutschlands", "den Niederlanden"), word order and articles ("el Banco Central
Europeo", "la Juventus", "del Barcelona"). The templates use German verb-final clauses, separable
verbs ("kündigte ... an", "bekanntgab") and compounds ("Handelsabkommen", "Saisonende"), and Spanish
noun-adjective order ("el Gobierno alemán"). Nationality adjectives are MISC in every language,
also when lower-case ("deutsche", "alemán"); articles are outside the entity (O), as in CoNLL.

Regenerate with `.venv/bin/python resources/demo/generate_demo.py`; the output is byte-identical
(`tests/test_demo_corpus.py` checks it). The sentences are synthetic: they report no real event,
and the people in them are fictional.

## Files

All UTF-8. Labelled files: `token<TAB>tag` (IOB2, tags PER/ORG/LOC/MISC), one token a line, a blank
line between sentences. Plain-text files: one detokenised sentence a line.

{file_table}

Text conventions: `source_text` is `MosesDetokenizer("en").detokenize(tokens)` of the English
training sentence; every German/Spanish text is `MosesDetokenizer(lang).detokenize(tokens)` of the
gold tokens, and `MosesTokenizer(lang).tokenize(text, escape=False)` gives those tokens back (the
target texts contain no character Moses escapes, so `escape=True` gives the same). Use sacremoses
without `aggressive_dash_splits`: "Mexiko-Stadt" is one token.

## Counts

"""

README_FILES = [
    ("`en.train.tsv`, `en.dev.tsv`, `en.test.tsv`", "English training / development / test sets"),
    (
        "`de.test.tsv`, `es.test.tsv`",
        "the English test sentences translated, with gold tags (zero-shot evaluation)",
    ),
    ("`de.dev.tsv`, `es.dev.tsv`", "the English dev sentences translated, with gold tags"),
    (
        "`en-de.gold.en.tsv` + `en-de.gold.de.tsv`, `en-es.gold.en.tsv` + `en-es.gold.es.tsv`",
        "the English training sentences and their gold-labelled translations, sentence-parallel "
        "(projection F1)",
    ),
    (
        "`translations.en-de.tsv`, `translations.en-es.tsv`",
        "`source_text<TAB>translation`, no header, one line per training sentence, for the `file` "
        "translation provider",
    ),
    (
        "`parallel.en-de.{en,de}.txt`, `parallel.en-es.{en,es}.txt`",
        "unlabelled line-aligned parallel text (more fills of the same templates, none equal to a "
        "labelled sentence): extra data for the aligner",
    ),
]

README_TAIL = """
Projection difficulty (training sentences, per source entity and its gold translation):

| | entity pairs | target length differs | target text differs | sentences with reordered entities |
|---|---|---|---|---|
{difficulty}

## License

Written for this project; released into the public domain under CC0 1.0
(https://creativecommons.org/publicdomain/zero/1.0/). Organisation, place and event names are used
only as names.
"""


def readme(stats: dict) -> str:
    rows = [
        "| file | sentences | tokens | entities | PER | ORG | LOC | MISC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in stats["files"].items():
        ents = [str(c.get(k, "")) for k in ("entities", *LABELS)]
        rows.append(f"| `{name}` | {c['sentences']} | {c['tokens']} | " + " | ".join(ents) + " |")
    difficulty = "\n".join(
        f"| en-{lang} | {d['entity_pairs']} | {d['length_differs_pct']} % | {d['text_differs_pct']} % | "
        f"{d['sentences_reordered_pct']} % |"
        for lang, d in stats["projection_difficulty_train"].items()
    )
    file_table = "\n".join(["| file | what |", "|---|---|"] + [f"| {f} | {w} |" for f, w in README_FILES])
    head = README_HEAD.format(
        templates=stats["templates"], entities=stats["gazetteer_entities"], seed=SEED, file_table=file_table
    )
    note = (
        f"\n`en-de.gold.en.tsv` and `en-es.gold.en.tsv` are copies of `en.train.tsv`. "
        f"{stats['distinct_entities_in_labelled_data']} distinct entities occur in the labelled data "
        f"({', '.join(f'{k} {v}' for k, v in sorted(stats['distinct_entities_by_label'].items()))}).\n"
    )
    return head + "\n".join(rows) + "\n" + note + README_TAIL.format(difficulty=difficulty)


def write_corpus(out_dir: Path, seed: int = SEED) -> dict:
    """Write every data file and README.md into ``out_dir``; return the statistics."""
    corpus = build_corpus(seed)
    stats = statistics(corpus)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in {**corpus_files(corpus), "README.md": readme(stats)}.items():
        (out_dir / name).write_text(content, encoding="utf-8", newline="\n")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    parser.add_argument("--stats", action="store_true", help="print the statistics as JSON")
    args = parser.parse_args(argv)
    stats = write_corpus(args.out)
    if args.stats:
        json.dump(stats, sys.stdout, indent=2, ensure_ascii=False)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
