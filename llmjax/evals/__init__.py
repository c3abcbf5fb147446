"""Evaluation suite: log-likelihood scoring (loglik), TatBLiMP (blimp), the
paraphrase-consistency QA benchmark (qa), SIB-200 (sib), TUMLU (tumlu), bits/char (bpc);
`suite` runs them on a checkpoint and `report` renders the markdown report."""
