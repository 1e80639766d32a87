"""Extract: export files in the inbox into ``raw.*``, once each, every row accounted for
(``load``); the formats (``sources``), readers (``readers``) and column mappings (``mapping``)."""
