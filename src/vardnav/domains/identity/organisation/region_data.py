"""Reference data for the demo region, modelled on Västra Götaland.

The 49 municipalities carry their official municipality codes (kommunkod, SCB). Which
municipalities chose options 2 and 3 is demo configuration in the programme's proportions
(49 × option 1, 14 × option 2, 9 × option 3), not a statement about the real programme.
"""

from __future__ import annotations

REGION_NAME = "Västra Götalandsregionen"
REGION_HSA = "SE2321000131-E000000000001"

# (kommunkod, name), all 49 municipalities of Västra Götaland county.
MUNICIPALITIES: list[tuple[str, str]] = [
    ("1401", "Härryda"), ("1402", "Partille"), ("1407", "Öckerö"), ("1415", "Stenungsund"),
    ("1419", "Tjörn"), ("1421", "Orust"), ("1427", "Sotenäs"), ("1430", "Munkedal"),
    ("1435", "Tanum"), ("1438", "Dals-Ed"), ("1439", "Färgelanda"), ("1440", "Ale"),
    ("1441", "Lerum"), ("1442", "Vårgårda"), ("1443", "Bollebygd"), ("1444", "Grästorp"),
    ("1445", "Essunga"), ("1446", "Karlsborg"), ("1447", "Gullspång"), ("1452", "Tranemo"),
    ("1460", "Bengtsfors"), ("1461", "Mellerud"), ("1462", "Lilla Edet"), ("1463", "Mark"),
    ("1465", "Svenljunga"), ("1466", "Herrljunga"), ("1470", "Vara"), ("1471", "Götene"),
    ("1472", "Tibro"), ("1473", "Töreboda"), ("1480", "Göteborg"), ("1481", "Mölndal"),
    ("1482", "Kungälv"), ("1484", "Lysekil"), ("1485", "Uddevalla"), ("1486", "Strömstad"),
    ("1487", "Vänersborg"), ("1488", "Trollhättan"), ("1489", "Alingsås"), ("1490", "Borås"),
    ("1491", "Ulricehamn"), ("1492", "Åmål"), ("1493", "Mariestad"), ("1494", "Lidköping"),
    ("1495", "Skara"), ("1496", "Skövde"), ("1497", "Hjo"), ("1498", "Tidaholm"),
    ("1499", "Falköping"),
]

# Demo option choices (see the module docstring).
OPTION_2_SCHOOL_HEALTH = {"1401", "1402", "1415", "1440", "1441", "1463", "1470", "1471",
                          "1472", "1482", "1485", "1489", "1491", "1496"}
OPTION_3_SHARED_RECORD = {"1407", "1419", "1421", "1444", "1445", "1447", "1460", "1466",
                          "1473"}

# Hospitals with a few wards each: (short code, name, city, [(ward code, ward name, beds)]).
HOSPITALS: list[tuple[str, str, str, list[tuple[str, str, int]]]] = [
    ("SU", "Sahlgrenska Universitetssjukhuset", "Göteborg",
     [("MED1", "Medicinavdelning 1", 8), ("GER2", "Geriatrisk avdelning 2", 6),
      ("ORT3", "Ortopedavdelning 3", 6)]),
    ("NAL", "NU-sjukvården, Norra Älvsborgs länssjukhus", "Trollhättan",
     [("MED4", "Medicinavdelning 4", 6), ("KIR5", "Kirurgavdelning 5", 6)]),
    ("SAS", "Södra Älvsborgs sjukhus", "Borås",
     [("MED6", "Medicinavdelning 6", 6), ("STR7", "Strokeenheten", 4)]),
    ("SKAS", "Skaraborgs sjukhus Skövde", "Skövde",
     [("MED8", "Medicinavdelning 8", 6), ("GER9", "Geriatrisk avdelning 9", 4)]),
]

# Primary care centres: (code, name, municipality code).
PRIMARY_CARE: list[tuple[str, str, str]] = [
    ("VC01", "Vårdcentralen Högsbo", "1480"), ("VC02", "Vårdcentralen Åsen", "1485"),
    ("VC03", "Vårdcentralen Norrmalm", "1496"), ("VC04", "Vårdcentralen Sjöbo", "1490"),
    ("VC05", "Vårdcentralen Lilla Edet", "1462"),
]

# Private care providers with a primary care unit each, in the region's listing system
# (vårdval): (code, provider, unit, kommunkod). Fictional names.
PRIVATE_PROVIDERS: list[tuple[str, str, str, str]] = [
    ("PV01", "Kvarnbyns Läkarhus AB", "Kvarnbyns vårdcentral", "1481"),
    ("PV02", "Hälsohuset Väst AB", "Vårdcentralen Hälsohuset Borås", "1490"),
]
