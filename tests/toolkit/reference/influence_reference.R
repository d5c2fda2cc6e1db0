# lme4's leave-one-group-out refits (influence(fit, groups = ...)) for
# tests/toolkit/test_influence.py: the fixed effects refitted without each group.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/influence_reference.R   # -> influence_reference.csv, about a minute
suppressPackageStartupMessages(library(lme4))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- list(c(reference_model("hsb_slope"), methods = "REML"),
               c(reference_model("sleepstudy"), list(methods = c("REML", "ML"))),
               c(reference_model("orthodont"), list(methods = c("REML", "ML"))))
rows <- list()
for (m in models) {
  for (method in m$methods) {
    fit <- lmer(m$formula, data = m$data, REML = method == "REML", control = lmerControl(optimizer = "bobyqa"))
    refits <- influence(fit, groups = m$group)[[paste0("fixed.effects[-", m$group, "]")]]
    for (term in colnames(refits)) {
      rows[[length(rows) + 1]] <- data.frame(model = m$name, method = method, group = rownames(refits),
                                             term = term, estimate = refits[, term])
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "influence_reference.csv"), row.names = FALSE)
cat("wrote", nrow(out), "rows\n")
